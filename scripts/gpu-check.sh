#!/usr/bin/env bash
# Builds, here, everything a GPU machine needs to check spindle (it has no Rust
# toolchain and no network): the release test suites and the benchmark runner,
# stripped, with a runner script, in one folder (default ./gpu-bundle, git-ignored).
# Then prints the command to run there.
#
#   scripts/gpu-check.sh            # build and stage
#   scripts/gpu-check.sh --run      # ... then run the bundle here too (no GPU: GPU parts skip)
#
# Environment: SPINDLE_BUNDLE_DIR (where to stage), CARGO_BUILD_JOBS (as usual).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bundle="${SPINDLE_BUNDLE_DIR:-$root/gpu-bundle}"
limit_bytes=$((64 * 1024 * 1024))
target_triple="x86_64-unknown-linux-gnu"

say() { echo "gpu-check: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found: this script builds on a machine with Rust"
command -v python3 >/dev/null || die "python3 not found (needed to read cargo's JSON messages)"
host="$(rustc -vV | sed -n 's/^host: //p')"
[ "$host" = "$target_triple" ] || die "this host is $host; the bundle must be built for $target_triple"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. Build. Plain host target (a static musl build could never dlopen libcuda or
# libnvrtc). One cargo run builds the test suites (what `cargo test --workspace
# --release --no-run` builds, less the examples) and the benchmark runner `gpu`
# (the same binary `cargo bench --bench gpu` runs: release and bench profiles
# are alike here), so both come from the same state of the tree.
say "building the release test suites and the benchmark runner"
say "  cargo test --workspace --release --no-run --lib --bins --tests --bench gpu"
cargo test --workspace --release --no-run --lib --bins --tests --bench gpu \
    --message-format=json-render-diagnostics >"$work/cargo.json"
python3 scripts/gpu/artifacts.py <"$work/cargo.json" >"$work/all.tsv"
awk -F'\t' '$1 == "test"' "$work/all.tsv" >"$work/tests.tsv"
awk -F'\t' '$1 == "bench" && $3 == "gpu"' "$work/all.tsv" >"$work/bench.tsv"
[ -s "$work/bench.tsv" ] || die "cargo built no bench executable named gpu"

# 2. Stage.
rm -rf "$bundle"
mkdir -p "$bundle/bin/tests" "$bundle/bin/bench"
strip_into() { # src dst: copy without debug info (keeps symbols for backtraces)
    if command -v strip >/dev/null; then
        strip --strip-debug -o "$2" "$1"
    elif command -v objcopy >/dev/null; then
        objcopy --strip-debug "$1" "$2"
    else
        cp "$1" "$2"
    fi
    chmod 755 "$2"
}
: >"$work/left-out.tsv"
: >"$work/carried.tsv"
while IFS=$'\t' read -r kind pkg target path; do
    name="$pkg--$target"
    case "$pkg" in
    spindle-ui-tests)
        # trybuild runs cargo on case files from the source tree.
        printf '%s\t%s\n' "$name" "trybuild compile-fail cases: needs cargo and the source tree" >>"$work/left-out.tsv"
        continue ;;
    esac
    strip_into "$path" "$bundle/bin/tests/$name"
    # A test that names this checkout by absolute path would read files that
    # the GPU machine does not have.
    if grep -a -q -F "$root/" "$bundle/bin/tests/$name"; then
        rm "$bundle/bin/tests/$name"
        printf '%s\t%s\n' "$name" "contains the source tree's path ($root/): reads files from it" >>"$work/left-out.tsv"
        continue
    fi
    printf '%s\t%s\t%s\n' "$name" "$pkg" "$target" >>"$work/carried.tsv"
done <"$work/tests.tsv"
IFS=$'\t' read -r _ _ _ bench_path <"$work/bench.tsv"
strip_into "$bench_path" "$bundle/bin/bench/gpu"

# Shared libraries of the Rust toolchain that some suites link (proc-macro
# crates' tests link libstd dynamically) travel in lib/; run.sh puts it on
# LD_LIBRARY_PATH. Anything else missing here is an error.
sysroot_lib="$(rustc --print sysroot)/lib/rustlib/$host/lib"
mkdir -p "$bundle/lib"
for bin in "$bundle"/bin/tests/* "$bundle/bin/bench/gpu"; do
    ldd "$bin" 2>/dev/null | awk '/=> not found/ {print $1}'
done | sort -u | while read -r lib; do
    [ -f "$sysroot_lib/$lib" ] || die "a staged binary needs $lib, which is neither installed nor in the Rust sysroot"
    strip_into "$sysroot_lib/$lib" "$bundle/lib/$lib"
    say "carrying $lib from the Rust toolchain"
done

# Tests that read the source tree at run time: run.sh skips them by name.
{ grep -v '^#' scripts/gpu/needs-source.tsv || true; } | awk -F'\t' 'NF >= 3' >"$bundle/needs-source.tsv"
while IFS=$'\t' read -r suite test _; do
    if [ ! -x "$bundle/bin/tests/$suite" ]; then
        say "warning: scripts/gpu/needs-source.tsv names suite $suite, which was not staged"
    elif ! LD_LIBRARY_PATH="$bundle/lib" "$bundle/bin/tests/$suite" --list --exact "$test" 2>/dev/null | grep -q "^$test: test"; then
        say "warning: scripts/gpu/needs-source.tsv names $suite $test, which no longer exists"
    fi
done <"$bundle/needs-source.tsv"

cp scripts/gpu/run.sh scripts/gpu/peers.py scripts/gpu/report.py scripts/gpu/floor.cu "$bundle/"
chmod 755 "$bundle/run.sh" "$bundle/peers.py" "$bundle/report.py"

# 3. Manifest: what was built, from which commit, on which machine.
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
dirty="$(git status --porcelain --untracked-files=no 2>/dev/null | head -c1 | wc -c)"
python3 - "$bundle" "$work" "$commit" "$dirty" <<'EOF'
import json, os, platform, subprocess, sys, time
bundle, work, commit, dirty = sys.argv[1:5]
def rows(name):
    with open(os.path.join(work, name)) as f:
        return [l.rstrip("\n").split("\t") for l in f if l.strip()]
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
def size(p):
    return os.path.getsize(os.path.join(bundle, p))
manifest = {
    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "commit": commit,
    "worktree_dirty": dirty != "0",
    "rustc": subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip(),
    "build_host": {"cpu": cpu, "os": platform.platform()},
    "target": "x86_64-unknown-linux-gnu",
    "tests": [{"file": "bin/tests/" + n, "package": p, "target": t, "bytes": size("bin/tests/" + n)}
              for n, p, t in rows("carried.tsv")],
    "left_out": [{"suite": n, "reason": r} for n, r in rows("left-out.tsv")],
    "bench": {"file": "bin/bench/gpu", "bytes": size("bin/bench/gpu")},
}
with open(os.path.join(bundle, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
EOF

total="$(du -sb "$bundle" | cut -f1)"
[ "$total" -lt "$limit_bytes" ] || die "the bundle is $total bytes, over the 64 MiB limit"

say "staged $(wc -l <"$work/carried.tsv") test suites and the benchmark runner in $bundle ($(awk -v b="$total" 'BEGIN{printf "%.1f MiB", b/1048576}'))"
while IFS=$'\t' read -r name reason; do say "  left out $name: $reason"; done <"$work/left-out.tsv"
rel="$(realpath --relative-to="$root" "$bundle" 2>/dev/null || echo "$bundle")"
cat <<EOF

Copy the folder $rel/ to the GPU machine, then run there (from the folder that holds it):

    bash $rel/run.sh

It writes report.md and report.json to \$SPINDLE_REPORT_DIR (default ./gpu-report).
On a machine reached through a remote-run tool that copies the working tree
(with $rel/ named among the ignored paths it carries) and returns \$OUT:
    SPINDLE_REPORT_DIR=\$OUT/gpu-report bash $rel/run.sh
EOF

if [ "${1:-}" = "--run" ]; then
    say "running the bundle here"
    bash "$bundle/run.sh"
fi
