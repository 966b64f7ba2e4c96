//! CUDA graphs of kernel nodes: `cuGraphCreate`, `cuGraphAddKernelNode_v2`,
//! `cuGraphInstantiateWithFlags`, `cuGraphLaunch`, `cuGraphExecDestroy`,
//! `cuGraphDestroy`.
//!
//! Modelled rules (Graph Management reference):
//! - a kernel node's parameters are checked and copied when the node is
//!   added (as `cuLaunchKernel` checks and copies them): a later change to
//!   the caller's argument values does not reach the graph;
//! - a node's dependencies must be nodes of the same graph:
//!   `CUDA_ERROR_INVALID_VALUE`;
//! - an instantiation is a snapshot: nodes added to the graph afterwards,
//!   or destroying the graph, do not change it;
//! - `cuGraphLaunch` puts the whole graph on the stream, ordered with the
//!   stream's other work; destroying an instantiation with a launch in
//!   flight lets that launch complete.
//!
//! What it does not model: nodes run one after another in the order they
//! were added (a topological order, since a node can only depend on nodes
//! added before it) rather than concurrently where the dependencies would
//! allow; only kernel nodes exist (other node kinds, stream capture and
//! exec updates return `CUDA_ERROR_NOT_SUPPORTED` by being absent).

use std::ffi::{c_uint, c_ulonglong, c_void};
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::{CUresult, CUDA_KERNEL_NODE_PARAMS};

use super::context::{current, Context};
use super::kernel::{queue_launch, Prepared};
use super::module::function;
use super::stream_api::stream_in;
use super::{driver, lock, new_handle, put, run, Kind};

/// A graph being built.
pub(crate) struct Graph {
    handle: u64,
    ctx: Arc<Context>,
    nodes: Mutex<Vec<Node>>,
}

/// One kernel node.
#[derive(Clone)]
struct Node {
    handle: u64,
    launch: Prepared,
}

/// An instantiated graph: its nodes, in the order they run.
pub(crate) struct Exec {
    handle: u64,
    ctx: Arc<Context>,
    nodes: Vec<Prepared>,
}

#[no_mangle]
pub unsafe extern "C" fn cuGraphCreate(out: *mut *mut c_void, flags: c_uint) -> CUresult {
    run("cuGraphCreate", || {
        if flags != 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let ctx = current()?;
        let g = driver()?.graphs.insert(|handle| Graph {
            handle,
            ctx,
            nodes: Mutex::new(Vec::new()),
        });
        // SAFETY: caller contract.
        unsafe { put(out, g.handle as *mut c_void) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuGraphAddKernelNode_v2(
    out: *mut *mut c_void,
    graph: *mut c_void,
    deps: *const *mut c_void,
    ndeps: usize,
    params: *const CUDA_KERNEL_NODE_PARAMS,
) -> CUresult {
    run("cuGraphAddKernelNode_v2", || {
        let g = driver()?.graphs.get(graph as u64)?;
        if params.is_null() || (ndeps > 0 && deps.is_null()) {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        // SAFETY: caller contract: a readable parameter struct.
        let p = unsafe { &*params };
        if !p.kern.is_null() {
            crate::log::warn(
                "cuGraphAddKernelNode_v2: a `CUkernel` (library kernel) node is not supported \
                 by the stand-in"
                    .to_string(),
            );
            return Err(CUresult::CUDA_ERROR_NOT_SUPPORTED);
        }
        let mut nodes = lock(&g.nodes);
        for i in 0..ndeps {
            // SAFETY: caller contract: `ndeps` readable handles.
            let d = unsafe { *deps.add(i) } as u64;
            if !nodes.iter().any(|n| n.handle == d) {
                return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
            }
        }
        let f = function(p.func.cast())?;
        // SAFETY: caller contract: `kernelParams` holds one pointer per
        // parameter of the function, each to a value of its size.
        let launch = unsafe {
            Prepared::new(
                f,
                [p.gridDimX, p.gridDimY, p.gridDimZ],
                [p.blockDimX, p.blockDimY, p.blockDimZ],
                p.sharedMemBytes,
                p.kernelParams,
                p.extra,
                "cuGraphAddKernelNode_v2",
            )
        }?;
        let handle = new_handle(Kind::GraphNode);
        nodes.push(Node { handle, launch });
        // SAFETY: caller contract.
        unsafe { put(out, handle as *mut c_void) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuGraphInstantiateWithFlags(
    out: *mut *mut c_void,
    graph: *mut c_void,
    flags: c_ulonglong,
) -> CUresult {
    run("cuGraphInstantiateWithFlags", || {
        if flags != 0 {
            crate::log::warn(format!(
                "cuGraphInstantiateWithFlags: flags {flags:#x} are not supported by the stand-in"
            ));
            return Err(CUresult::CUDA_ERROR_NOT_SUPPORTED);
        }
        let g = driver()?.graphs.get(graph as u64)?;
        let nodes = lock(&g.nodes).iter().map(|n| n.launch.clone()).collect();
        let e = driver()?.execs.insert(|handle| Exec {
            handle,
            ctx: g.ctx.clone(),
            nodes,
        });
        // SAFETY: caller contract.
        unsafe { put(out, e.handle as *mut c_void) }
    })
}

#[no_mangle]
pub extern "C" fn cuGraphLaunch(exec: *mut c_void, stream: *mut c_void) -> CUresult {
    run("cuGraphLaunch", || {
        let e = driver()?.execs.get(exec as u64)?;
        let ctx = current()?;
        if !Arc::ptr_eq(&ctx, &e.ctx) {
            return Err(CUresult::CUDA_ERROR_INVALID_CONTEXT);
        }
        let s = stream_in(&ctx, stream as u64)?;
        crate::log::debug(|| {
            format!(
                "cuGraphLaunch: {} kernel nodes on stream {:#x}",
                e.nodes.len(),
                s.handle
            )
        });
        for n in &e.nodes {
            queue_launch(&ctx, &s, n.clone(), "cuGraphLaunch")?;
        }
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn cuGraphExecDestroy(exec: *mut c_void) -> CUresult {
    run("cuGraphExecDestroy", || {
        driver()?.execs.remove(exec as u64).map(drop)
    })
}

#[no_mangle]
pub extern "C" fn cuGraphDestroy(graph: *mut c_void) -> CUresult {
    run("cuGraphDestroy", || {
        driver()?.graphs.remove(graph as u64).map(drop)
    })
}
