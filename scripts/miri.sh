#!/usr/bin/env bash
# Miri over spindle's own unsafe code: the CPU interpreter (lane registers,
# blobs, masks and shared areas reached through raw pointers; atomics on
# slice elements) and the ring protocol (payload copies in and out of the
# shared region).
#
#   scripts/miri.sh            # the chosen set below (minutes)
#   scripts/miri.sh --all      # every unit test of the interpreter and the ring
#                              # protocol (hours: Miri interprets every lane)
#   scripts/miri.sh TEST...    # these tests (exact names, as `cargo test -- --list` prints them)
#
# Needs a nightly toolchain with the miri component. Without one it says how
# to get it and exits 0, or 1 when SPINDLE_REQUIRE_MIRI=1; it never downloads
# a toolchain itself. Its build goes to target/miri.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    echo "miri.sh: no nightly toolchain with the miri component here; skipping." >&2
    echo "miri.sh: to run it: rustup toolchain install nightly --component miri rust-src" >&2
    [ "${SPINDLE_REQUIRE_MIRI:-0}" = 1 ] && exit 1
    exit 0
fi

# Small kernels that reach every unsafe path of the interpreter (registers,
# blobs, every mask operation, slice loads and stores with their faults,
# shared and dynamic shared areas, atomics, warp operations, the divergence
# check, the ring handler's prepared block) and the ring protocol's copies.
chosen=(
    cpu::tests::arith::bool_casts_to_numbers
    cpu::tests::arith::compound_assignment_on_slices_and_locals
    cpu::tests::arith::f32_arithmetic_rounds_in_f32_without_contraction
    cpu::tests::arith::literals_of_every_type
    cpu::tests::atomics::an_atomic_out_of_bounds_faults_at_its_place
    cpu::tests::atomics::float_atomics_add_subtract_and_exchange
    cpu::tests::atomics::lanes_of_one_instruction_take_turns_in_lane_order
    cpu::tests::dynamic_shared::views_of_different_types_alias_from_byte_zero
    cpu::tests::faults::out_of_bounds_in_a_local_array_and_in_a_read
    cpu::tests::memory::blocks_racing_on_one_element_read_and_leave_a_written_value
    cpu::tests::memory::slices_of_structs_and_struct_locals
    cpu::tests::ring::ring_handler_updates_state_and_replies_with_thread_0
    cpu::tests::warps::fences_run
    cpu::tests::warps::sync_warp_checks_each_warp
    cpu::global::tests::overlapping_copies_move_like_memmove
    cpu::global::tests::runs_of_words_copy_in_and_out
    cpu::global::tests::words_round_trip_aligned_and_not
    ring::protocol::tests::config_bytes_match_the_struct_layout
    ring::protocol::tests::positions_wrap_around_u32
    ring::protocol::tests::publish_consume_full_wraparound
)

args=()
if [ "${1:-}" = "--all" ]; then
    args=(cpu:: ring::protocol ring::memory)
elif [ $# -gt 0 ]; then
    args=(--exact "$@")
else
    args=(--exact "${chosen[@]}")
fi
echo "miri.sh: cargo +nightly miri test -p spindle-runtime --lib -- ${args[*]}" >&2
CARGO_TARGET_DIR=target/miri cargo +nightly miri test -p spindle-runtime --lib -- "${args[@]}"
