//! Ring handlers: one message at a time on one block.

use super::*;
use crate::fault::expect_fault;
use crate::{Error, FaultKind};

/// `fn tally(state: &mut Tally { count: u32, sum: f32 }, msg: Add { value: f32 }) -> Tally`
/// on `threads` threads: every thread adds its index to `state.count` only
/// when it is thread 0 (so the result is deterministic), and the reply is
/// thread 0's copy of the state after the update plus its own index.
fn tally(threads: u32) -> (Arc<Kernel>, u32) {
    let f = ty(Scalar::F32);
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("tally");
    let tally = kb.add_struct("Tally", &[("count", u.clone()), ("sum", f.clone())]);
    let add = kb.add_struct("Add", &[("value", f.clone())]);
    let tt = Ty::Struct(tally);
    let kb = kb.ring(threads, tt.clone());
    let mut kb = kb;
    let state = kb.state(tt.clone());
    let msg = kb.value("msg", Ty::Struct(add));
    let reply = kb.local_mut("reply", tt.clone());
    let field = |p: Place, i: u32, ty: Ty| {
        let mut p = p;
        p.proj.push(Proj::Field(i));
        p.ty = ty;
        p
    };
    let st_count = || field(place_param(state, tt.clone()), 0, u.clone());
    let st_sum = || field(place_param(state, tt.clone()), 1, f.clone());
    let tx = || dim(Intrinsic::ThreadIdx, 0);
    let k = kb.build(vec![
        if_(
            bin(BinOp::Eq, tx(), int(Scalar::U32, 0)),
            vec![
                compound(st_count(), BinOp::Add, int(Scalar::U32, 1)),
                compound(
                    st_sum(),
                    BinOp::Add,
                    load(field(place_param(msg, Ty::Struct(add)), 0, f.clone())),
                ),
            ],
            vec![],
        ),
        let_(reply, param(state, tt.clone())),
        compound(
            field(place_local(reply, tt.clone()), 0, u.clone()),
            BinOp::Add,
            bin(BinOp::Mul, tx(), int(Scalar::U32, 1000)),
        ),
        stmt(StmtKind::Return(Some(local(reply, tt.clone())))),
    ]);
    (k, 8)
}

fn tally_bytes(count: u32, sum: f32) -> Vec<u8> {
    let mut b = count.to_ne_bytes().to_vec();
    b.extend_from_slice(&sum.to_ne_bytes());
    b
}

#[test]
fn ring_handler_updates_state_and_replies_with_thread_0() {
    for threads in [1, 32, 100] {
        let (k, size) = tally(threads);
        let dev = CpuDevice::new();
        let mut h = dev.ring_handler(&k).unwrap();
        assert_eq!(
            (h.state_size(), h.msg_size(), h.reply_size()),
            (size as usize, 4, 8)
        );
        let mut state = tally_bytes(0, 0.0);
        let mut reply = vec![0u8; 8];
        for m in 1..=10 {
            let msg = (m as f32 * 0.5).to_ne_bytes();
            assert_eq!(h.run(&mut state, &msg, &mut reply).unwrap(), None);
            let sum: f32 = (1..=m).map(|v| v as f32 * 0.5).sum();
            assert_eq!(state, tally_bytes(m, sum));
            assert_eq!(
                reply,
                tally_bytes(m, sum),
                "thread 0's reply ({threads} threads)"
            );
        }
    }
}

#[test]
fn ring_handler_reports_faults_and_wrong_sizes() {
    // fn h(state: &mut u32, msg: u32) -> u32 { let a = [1, 2]; *state += a[msg as usize]; *state }
    let u = ty(Scalar::U32);
    let arr = Ty::Array(Box::new(u.clone()), 2);
    let mut kb = KernelBuilder::new("h").ring(1, u.clone());
    let state = kb.state(u.clone());
    let msg = kb.value("msg", u.clone());
    let a = kb.local("a", arr.clone());
    let site = kb.site("a", 9);
    let k = kb.build(vec![
        let_(
            a,
            expr(
                ExprKind::ArrayLit(vec![int(Scalar::U32, 1), int(Scalar::U32, 2)]),
                arr.clone(),
            ),
        ),
        compound(
            place_param(state, u.clone()),
            BinOp::Add,
            load(Place {
                root: PlaceRoot::Local(a),
                proj: vec![Proj::Index {
                    index: Box::new(cast(param(msg, u.clone()), Scalar::Usize)),
                    site,
                }],
                ty: u.clone(),
            }),
        ),
        stmt(StmtKind::Return(Some(param(state, u.clone())))),
    ]);
    let mut h = CpuDevice::new().ring_handler(&k).unwrap();
    let mut state = 10u32.to_ne_bytes();
    let mut reply = [0u8; 4];
    assert_eq!(
        h.run(&mut state, &1u32.to_ne_bytes(), &mut reply).unwrap(),
        None
    );
    assert_eq!(
        (u32::from_ne_bytes(state), u32::from_ne_bytes(reply)),
        (12, 12)
    );
    let rec = h
        .run(&mut state, &5u32.to_ne_bytes(), &mut reply)
        .unwrap()
        .expect("a fault");
    assert_eq!(
        (rec.kind, rec.site, rec.index, rec.len, rec.thread),
        (1, site, 5, 2, [0, 0, 0])
    );
    assert_eq!(
        u32::from_ne_bytes(state),
        12,
        "the faulting thread stopped before its store"
    );
    // The handler keeps its block set up between messages: after a fault
    // the next message runs from a clean start with its own value.
    assert_eq!(
        h.run(&mut state, &0u32.to_ne_bytes(), &mut reply).unwrap(),
        None
    );
    assert_eq!(
        (u32::from_ne_bytes(state), u32::from_ne_bytes(reply)),
        (13, 13)
    );
    let err = crate::fault::fault_error(&k, &rec);
    assert_eq!(
        expect_fault(err).kind,
        FaultKind::OutOfBounds { index: 5, len: 2 }
    );
    // Wrong buffer sizes are errors.
    assert!(matches!(
        h.run(&mut state, &[0u8; 8], &mut reply),
        Err(Error::Argument { .. })
    ));
    // And a batch kernel is not a ring handler, nor the other way round.
    assert!(matches!(
        CpuDevice::new().ring_handler(&saxpy_kernel()),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        launch(&k, Launch::new(1, 1), &mut []),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn a_handler_compiled_without_a_device_runs_on_another_thread() {
    let (k, _) = tally(4);
    let mut h = InterpretedHandler::compile(&k).unwrap();
    let got = std::thread::spawn(move || {
        let mut state = tally_bytes(41, 1.0);
        let mut reply = vec![0u8; 8];
        h.run(&mut state, &2.5f32.to_ne_bytes(), &mut reply)
            .unwrap();
        (state, reply)
    })
    .join()
    .unwrap();
    assert_eq!(got, (tally_bytes(42, 3.5), tally_bytes(42, 3.5)));
}
