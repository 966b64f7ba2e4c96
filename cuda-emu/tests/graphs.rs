//! CUDA graphs of kernel nodes (cuda-emu/README.md lists the rules),
//! driven through cudarc's raw API in a child process.

mod common;

use std::ffi::c_void;

use common::raw::{self, code};
use cudarc::driver::result;
use cudarc::driver::sys::{self, CUresult};

child_test!(graphs_of_kernel_nodes_follow_the_driver_rules, graphs_child,
    env: [("CUDA_MODULE_LOADING", "EAGER")],
    check: |out| out.assert_passed());

/// `spindle_test_add(x, n, k)` as a kernel node of `graph` after `deps`.
fn add_node(
    graph: sys::CUgraph,
    f: sys::CUfunction,
    deps: &[sys::CUgraphNode],
    block: u32,
    args: &mut [*mut c_void],
) -> Result<sys::CUgraphNode, CUresult> {
    let p = sys::CUDA_KERNEL_NODE_PARAMS {
        func: f,
        gridDimX: 4,
        gridDimY: 1,
        gridDimZ: 1,
        blockDimX: block,
        blockDimY: 1,
        blockDimZ: 1,
        sharedMemBytes: 0,
        kernelParams: args.as_mut_ptr(),
        extra: std::ptr::null_mut(),
        kern: std::ptr::null_mut(),
        ctx: std::ptr::null_mut(),
    };
    let mut node = std::ptr::null_mut();
    // SAFETY: a live graph; `args` point at `(unsigned*, unsigned,
    // unsigned)`, the kernel's parameters, alive for the call.
    let r =
        unsafe { sys::cuGraphAddKernelNode_v2(&mut node, graph, deps.as_ptr(), deps.len(), &p) };
    match r {
        CUresult::CUDA_SUCCESS => Ok(node),
        e => Err(e),
    }
}

#[test]
#[ignore = "child of graphs_of_kernel_nodes_follow_the_driver_rules"]
fn graphs_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module
        .load_function("spindle_test_add")
        .unwrap()
        .cu_function();
    let len = 1024usize;
    // SAFETY: `len` values, freed at the end.
    let mut x = unsafe { result::malloc_sync(len * 4) }.unwrap();
    // SAFETY: a live allocation of `len * 4` bytes.
    unsafe { result::memset_d8_sync(x, 0, len * 4) }.unwrap();
    // A device memset may return before it is done, and the graph runs on
    // a non-blocking stream, which does not wait for the legacy stream.
    ctx.synchronize().unwrap();
    let (mut n, mut k) = (len as u32, 1u32);
    let k_at: *mut u32 = &mut k;
    let mut args = [
        (&mut x as *mut u64).cast::<c_void>(),
        (&mut n as *mut u32).cast(),
        k_at.cast(),
    ];
    // SAFETY: `k` outlives every use; only this pointer writes it.
    let set_k = |v: u32| unsafe { *k_at = v };
    let mut graph = std::ptr::null_mut();
    // SAFETY: valid out pointer, flags 0.
    assert_eq!(
        unsafe { sys::cuGraphCreate(&mut graph, 1) },
        CUresult::CUDA_ERROR_INVALID_VALUE
    );
    // SAFETY: as above.
    unsafe { sys::cuGraphCreate(&mut graph, 0) }
        .result()
        .unwrap();
    // Parameters are copied when the node is added: k = 1, then 2, then 4.
    let a = add_node(graph, f, &[], 256, &mut args).unwrap();
    set_k(2);
    let b = add_node(graph, f, &[a], 256, &mut args).unwrap();
    set_k(4);
    add_node(graph, f, &[a, b], 256, &mut args).unwrap();
    set_k(100);
    // Bad geometry is refused when the node is added, as by cuLaunchKernel.
    assert_eq!(
        add_node(graph, f, &[], 2048, &mut args),
        Err(CUresult::CUDA_ERROR_INVALID_VALUE)
    );
    // A dependency that is not a node of this graph.
    let mut other = std::ptr::null_mut();
    // SAFETY: as above.
    unsafe { sys::cuGraphCreate(&mut other, 0) }
        .result()
        .unwrap();
    let foreign = add_node(other, f, &[], 256, &mut args).unwrap();
    assert_eq!(
        add_node(graph, f, &[foreign], 256, &mut args),
        Err(CUresult::CUDA_ERROR_INVALID_VALUE)
    );
    // SAFETY: a live graph.
    let exec =
        unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) }.unwrap();
    // The instantiation is a snapshot: a node added now, and destroying
    // the graph, do not change it.
    add_node(graph, f, &[], 256, &mut args).unwrap();
    // SAFETY: live graphs, destroyed once.
    unsafe { result::graph::destroy(graph) }.unwrap();
    // SAFETY: as above.
    unsafe { result::graph::destroy(other) }.unwrap();
    let s = raw::stream(false);
    for _ in 0..3 {
        // SAFETY: a live instantiation and stream of the current context.
        unsafe { result::graph::launch(exec, s) }.unwrap();
    }
    // Destroyed with launches in flight: they complete.
    // SAFETY: destroyed once.
    unsafe { result::graph::exec_destroy(exec) }.unwrap();
    // SAFETY: a live stream.
    unsafe { result::stream::synchronize(s) }.unwrap();
    let mut host = vec![0u32; len];
    // SAFETY: `host` holds `len` values; `x` is a live allocation of as many.
    unsafe { result::memcpy_dtoh_sync(&mut host, x) }.unwrap();
    assert!(
        host.iter().all(|&v| v == 3 * (1 + 2 + 4)),
        "{:?}",
        &host[..4]
    );
    // SAFETY: destroyed above.
    assert_eq!(
        code(unsafe { result::graph::launch(exec, s) }),
        CUresult::CUDA_ERROR_INVALID_HANDLE
    );
    // SAFETY: no kernel uses it any more; the stream is ours.
    unsafe { result::free_sync(x) }.unwrap();
    // SAFETY: as above.
    unsafe { result::stream::destroy(s) }.unwrap();
}
