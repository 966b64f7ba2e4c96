//! Tests of an actor group's region layout and its generated C
//! declarations.

use std::process::Command;

use super::group_layout::*;
use super::layout::{c_declarations, PayloadShape, SlotLayout, CACHE_LINE};

const U32: PayloadShape = PayloadShape { size: 4, align: 4 };
const U64: PayloadShape = PayloadShape { size: 8, align: 8 };

#[test]
fn bytes_per_actor_as_documented() {
    // 16 slots of 4-byte messages and 8-byte replies, an 8-byte state.
    let l = GroupLayout::new(10_000, 2, 16, U32, U64, U64).unwrap();
    assert_eq!(l.bytes_per_actor(), 256 + 256 + 256 + 8);
    assert_eq!(l.total_size % CACHE_LINE, 0);
    assert!(l.total_size >= 10_000 * l.bytes_per_actor());
    assert!(l.total_size < 10_000 * l.bytes_per_actor() + 4096);
}

#[test]
fn every_writer_has_lines_of_its_own() {
    let l = GroupLayout::new(5, 3, 4, U32, U32, U32).unwrap();
    let line = |off: usize| off / CACHE_LINE;
    let stop = line(group_offsets::STOP);
    let mut executor_lines = Vec::new();
    let mut host_lines = vec![stop];
    for b in 0..3 {
        executor_lines.push(line(l.block_status(b)));
    }
    for a in 0..5 {
        let at = l.actor_offset(a);
        executor_lines.push(line(at + group_offsets::ACTOR_REQUEST_HEAD));
        assert_eq!(
            line(at + group_offsets::ACTOR_ERROR),
            line(at + group_offsets::ACTOR_REQUEST_HEAD)
        );
        assert_eq!(
            line(at + group_offsets::ACTOR_FAULT + 55),
            line(at + group_offsets::ACTOR_REQUEST_HEAD)
        );
        host_lines.push(line(at + group_offsets::ACTOR_REPLY_HEAD));
        assert_eq!((at + l.request_offset) % CACHE_LINE, 0);
        assert_eq!((at + l.reply_offset) % CACHE_LINE, 0);
    }
    for h in &host_lines {
        assert!(!executor_lines.contains(h), "line {h} has two writers");
    }
    // Each block's status and each actor's executor line are distinct.
    let mut sorted = executor_lines.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), executor_lines.len());
    // Block b owns actors b, b + 3, ...
    assert_eq!(
        (0..5).map(|a| l.block_of(a)).collect::<Vec<_>>(),
        [0, 1, 2, 0, 1]
    );
    assert_eq!(
        l.state_out(4) + l.state_size,
        l.state_out_offset + 4 * l.state_stride + 4
    );
}

#[test]
fn bad_groups_are_refused_with_reasons() {
    let e = GroupLayout::new(0, 1, 16, U32, U32, U32).unwrap_err();
    assert!(e.contains("at least one actor"), "{e}");
    let e = GroupLayout::new(MAX_GROUP_ACTORS as usize + 1, 1, 16, U32, U32, U32).unwrap_err();
    assert!(e.contains("at most"), "{e}");
    let e = GroupLayout::new(4, 0, 16, U32, U32, U32).unwrap_err();
    assert!(e.contains("blocks or workers"), "{e}");
    let e = GroupLayout::new(4, 1, 3, U32, U32, U32).unwrap_err();
    assert!(e.contains("power of two"), "{e}");
    // Over 4 GiB of region: refused, not wrapped.
    let big = PayloadShape {
        size: 1 << 20,
        align: 8,
    };
    let e = GroupLayout::new(MAX_GROUP_ACTORS as usize, 1, 1, big, U32, U32).unwrap_err();
    assert!(e.contains("2^32 bytes"), "{e}");
}

/// The generated C declarations compile as C++ and their `static_assert`s
/// hold (g++ checks every size and offset against the Rust definition).
#[test]
fn group_c_declarations_match_the_rust_layout() {
    let request = SlotLayout::new(4, 4).unwrap();
    let reply = SlotLayout::new(8, 8).unwrap();
    let mut src = String::from("#include <cstdint>\n#include <cstddef>\n");
    src.push_str(&crate::abi::fault_record_c_decl());
    src.push_str(&c_declarations(&request, &reply, "uint32_t", "uint64_t"));
    src.push_str(&group_c_declarations());
    assert!(src.contains("static_assert(sizeof(SpindleActorLines) == 256"));
    assert!(src.contains("static_assert(offsetof(SpindleActorExecutor, fault) == 8"));
    let dir = std::env::temp_dir().join(format!("spindle-group-decl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("group.cpp");
    std::fs::write(&file, &src).unwrap();
    match Command::new("g++")
        .args(["-std=c++17", "-fsyntax-only"])
        .arg(&file)
        .output()
    {
        Err(e) => println!("SKIPPED: g++ is needed to check the C declarations: {e}"),
        Ok(out) => assert!(
            out.status.success(),
            "g++ refused the group declarations:\n{}\n{src}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
