//! Sizes a kernel or a launch decides that memory cannot hold: an
//! `Error::OutOfMemory` (or a clear refusal), never an abort.

use super::*;
use crate::Error;

/// `out[i] = { let mut a = [0u64; len]; a[i % len] = 1; a[0] }` over
/// 256-thread blocks: every thread holds `8 × len` bytes of locals.
fn big_locals(len: u32) -> Arc<Kernel> {
    let u = ty(Scalar::U64);
    let arr = Ty::Array(Box::new(u.clone()), len);
    let mut kb = KernelBuilder::new("big_locals");
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let a = kb.local_mut("a", arr.clone());
    let sa = kb.site("a", 2);
    let so = kb.site("out", 3);
    let iu = || local(i, ty(Scalar::Usize));
    kb.build(vec![
        let_(i, global_index()),
        let_(
            a,
            expr(
                ExprKind::ArrayRepeat(Box::new(int(Scalar::U64, 0)), len),
                arr.clone(),
            ),
        ),
        assign(
            place_index(
                place_local(a, arr.clone()).root,
                bin(BinOp::Rem, iu(), usize_(len as i128)),
                sa,
                u.clone(),
            ),
            int(Scalar::U64, 1),
        ),
        store_elem(
            out,
            iu(),
            so,
            u.clone(),
            load(place_index(
                place_local(a, arr.clone()).root,
                usize_(0),
                sa,
                u.clone(),
            )),
        ),
    ])
}

#[test]
fn locals_too_large_for_memory_are_an_out_of_memory_error() {
    // 800 MB per thread, times a group's 256+ threads: hundreds of GB.
    let k = big_locals(100_000_000);
    let mut out = mem(&[0u64; 256]);
    let e = launch(
        &k,
        Launch::new(1, 256),
        &mut [arg_out::<u64>(&mut out, 256)],
    )
    .unwrap_err();
    match &e {
        Error::OutOfMemory { what, bytes } => {
            assert!(what.contains("kernel `big_locals`"), "{what}");
            // At least the array itself per thread, for at least one block.
            assert!(what.contains("bytes per thread"), "{what}");
            assert!(*bytes >= 800_000_000 * 256, "{e}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // The device is fine afterwards: a small version runs.
    let k = big_locals(16);
    let mut out = mem(&[7u64; 256]);
    launch(
        &k,
        Launch::new(1, 256),
        &mut [arg_out::<u64>(&mut out, 256)],
    )
    .unwrap();
    let got: Vec<u64> = read(&out);
    let want: Vec<u64> = (0..256).map(|i| u64::from(i % 16 == 0)).collect();
    assert_eq!(got, want);
}

#[test]
fn locals_past_4_gib_per_thread_are_refused_not_wrapped() {
    // [[u64; 2^20]; 2^10] is 8 GiB: a 32-bit size would wrap to 0.
    let u = ty(Scalar::U64);
    let row = Ty::Array(Box::new(u.clone()), 1 << 20);
    let mat = Ty::Array(Box::new(row.clone()), 1 << 10);
    let mut kb = KernelBuilder::new("huge_locals");
    let out = kb.slice("out", u.clone(), true);
    let m = kb.local_mut("m", mat.clone());
    let so = kb.site("out", 3);
    let k = kb.build(vec![
        let_(
            m,
            expr(
                ExprKind::ArrayRepeat(
                    Box::new(expr(
                        ExprKind::ArrayRepeat(Box::new(int(Scalar::U64, 0)), 1 << 20),
                        row.clone(),
                    )),
                    1 << 10,
                ),
                mat.clone(),
            ),
        ),
        store_elem(out, usize_(0), so, u.clone(), int(Scalar::U64, 1)),
    ]);
    let mut out = mem(&[0u64; 1]);
    let e = launch(&k, Launch::new(1, 1), &mut [arg_out::<u64>(&mut out, 1)]).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    assert!(
        e.to_string().contains("huge_locals") && e.to_string().contains("4 GiB"),
        "{e}"
    );
}

#[test]
fn a_ring_handler_whose_block_cannot_be_allocated_fails_to_build() {
    // A 1024-thread ring handler with 400 MB of locals per thread.
    let u = ty(Scalar::U32);
    let arr = Ty::Array(Box::new(u.clone()), 100_000_000);
    let mut kb = KernelBuilder::new("big_ring").ring(1024, u.clone());
    let _state = kb.state(u.clone());
    let msg = kb.value("msg", u.clone());
    let a = kb.local_mut("a", arr.clone());
    let k = kb.build(vec![
        let_(
            a,
            expr(
                ExprKind::ArrayRepeat(Box::new(int(Scalar::U32, 0)), 100_000_000),
                arr.clone(),
            ),
        ),
        stmt(StmtKind::Return(Some(param(msg, u.clone())))),
    ]);
    let e = CpuDevice::new().ring_handler(&k).map(|_| ()).unwrap_err();
    match &e {
        Error::OutOfMemory { what, bytes } => {
            assert!(what.contains("ring kernel `big_ring`"), "{what}");
            assert!(*bytes >= 400_000_000 * 1024, "{e}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
}

#[test]
fn buffers_too_large_for_memory_are_an_out_of_memory_error() {
    let e = HostMem::zeroed(1 << 50, || "a test buffer".into())
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&e, Error::OutOfMemory { what, bytes } if what == "a test buffer" && *bytes == 1 << 50),
        "{e:?}"
    );
}
