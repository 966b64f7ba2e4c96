//! Tests of the protocol layout and its generated C declarations.

use super::layout::*;

const U32: PayloadShape = PayloadShape { size: 4, align: 4 };

#[test]
fn offsets_are_one_per_line() {
    let words = [
        offsets::STOP,
        offsets::REQUEST_HEAD,
        offsets::REPLY_HEAD,
        offsets::RUNNING,
    ];
    for (i, a) in words.iter().enumerate() {
        for b in &words[i + 1..] {
            assert_ne!(a / CACHE_LINE, b / CACHE_LINE, "{a} and {b} share a line");
        }
    }
    assert_eq!(offsets::EXITED / CACHE_LINE, offsets::RUNNING / CACHE_LINE);
}

#[test]
fn slot_strides() {
    assert_eq!(SlotLayout::new(4, 4).unwrap().stride, 16);
    assert_eq!(SlotLayout::new(8, 8).unwrap().stride, 16);
    assert_eq!(SlotLayout::new(9, 1).unwrap().stride, 24);
    assert_eq!(SlotLayout::new(1, 1).unwrap().stride, 16);
    assert!(SlotLayout::new(0, 1).is_err());
    let wide = SlotLayout::new(16, 16).unwrap();
    assert_eq!((wide.payload_offset, wide.align, wide.stride), (16, 16, 32));
    let wide = SlotLayout::new(20, 16).unwrap();
    assert_eq!((wide.payload_offset, wide.stride), (16, 48));
    assert!(SlotLayout::new(4, 256).is_err());
    assert!(SlotLayout::new(4, 3).is_err());
}

#[test]
fn ring_layout_regions_are_line_aligned() {
    let l = RingLayout::new(8, U32, PayloadShape { size: 12, align: 4 }, U32).unwrap();
    assert_eq!(l.request_offset, 640);
    assert_eq!(l.reply_offset, 640 + 128);
    assert_eq!(l.state_out_offset, 640 + 128 + 256);
    assert_eq!(l.total_size, 640 + 128 + 256 + 128);
    for bad in [0, 3, 6, (MAX_CAPACITY as usize) * 2] {
        assert!(RingLayout::new(bad, U32, U32, U32).is_err(), "{bad}");
    }
    assert!(RingLayout::new(1, U32, U32, U32).is_ok());
}

#[test]
fn c_declarations_carry_the_rust_offsets() {
    let l = RingLayout::new(16, U32, U32, U32).unwrap();
    let c = c_declarations(&l.request, &l.reply, "uint32_t", "float");
    assert!(c.contains("static_assert(sizeof(SpindleRingControl) == 640"));
    assert!(c.contains("static_assert(offsetof(SpindleRingControl, status) == 512"));
    assert!(c.contains("alignas(128) SpindleRingCommand command;"));
    assert!(c.contains("static_assert(sizeof(SpindleRequestSlot) == 16"));
    assert!(c.contains("#define SPINDLE_RING_STOP_DRAIN 1u"));
    assert!(c.contains("static_assert(offsetof(SpindleRingStatus, error) == 8"));
}
