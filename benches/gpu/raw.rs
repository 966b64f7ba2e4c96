//! The baseline: the CUBIN spindle builds for `touch`, loaded and launched
//! with plain cudarc (no spindle in the timed path).
//!
//! Entry point per `spindle_codegen::abi`:
//! `spindle_touch(SpindleFault* fault, uint32_t* out, uint64_t out_len)`.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use spindle_codegen::abi::{entry_symbol, FaultRecord};

/// `touch` loaded into GPU 0's primary context by cudarc alone.
pub struct RawTouch {
    stream: Arc<CudaStream>,
    function: CudaFunction,
    fault: CudaSlice<u8>,
    out: CudaSlice<u32>,
    len: u64,
    fault_host: Vec<u8>,
}

fn driver(what: &str, e: cudarc::driver::DriverError) -> String {
    format!("raw cudarc: {what}: {e:?}")
}

impl RawTouch {
    /// GPU 0's compute capability as `sm_XY` (call only once a CUDA device
    /// opened: without libcuda cudarc panics).
    pub fn arch() -> Result<String, String> {
        let ctx = CudaContext::new(0).map_err(|e| driver("opening GPU 0", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| driver("compute capability", e))?;
        Ok(format!("sm_{major}{minor}"))
    }

    /// Loads `cubin` (spindle's CUBIN of `touch`) and allocates `len`
    /// elements of output and a fault record.
    pub fn load(cubin: Vec<u8>, len: usize) -> Result<RawTouch, String> {
        let ctx = CudaContext::new(0).map_err(|e| driver("opening GPU 0", e))?;
        // Same configuration as spindle's device: explicit synchronisation,
        // no per-buffer event tracking.
        // SAFETY: set before any stream or buffer of this context object
        // exists; every launch below is followed by a stream synchronise
        // before its buffers are touched again or dropped.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| driver("creating a stream", e))?;
        let module = ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| driver("loading the CUBIN", e))?;
        let function = module
            .load_function(&entry_symbol("touch"))
            .map_err(|e| driver("finding spindle_touch", e))?;
        let fault = stream
            .alloc_zeros::<u8>(std::mem::size_of::<FaultRecord>())
            .map_err(|e| driver("allocating the fault record", e))?;
        let out = stream
            .alloc_zeros::<u32>(len)
            .map_err(|e| driver("allocating the output", e))?;
        stream
            .synchronize()
            .map_err(|e| driver("synchronising", e))?;
        Ok(RawTouch {
            stream,
            function,
            fault,
            out,
            len: len as u64,
            fault_host: vec![0; std::mem::size_of::<FaultRecord>()],
        })
    }

    fn config(&self) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((self.len as u32).div_ceil(256), 1, 1),
            block_dim: ((self.len as u32).min(256), 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Queues one launch (no synchronisation).
    pub fn launch_async(&mut self) -> Result<(), String> {
        let cfg = self.config();
        let mut builder = self.stream.launch_builder(&self.function);
        builder.arg(&self.fault).arg(&mut self.out).arg(&self.len);
        // SAFETY: the arguments match the entry point's C signature (see the
        // module doc): a fault record of its full size, a `uint32_t*` to
        // `len` elements and their count; both buffers outlive the launch,
        // which the caller synchronises before they are reused or dropped.
        unsafe { builder.launch(cfg) }.map_err(|e| driver("launching", e))?;
        Ok(())
    }

    /// Launch, then wait: the least work any launch API must do.
    pub fn launch_sync(&mut self) -> Result<(), String> {
        self.launch_async()?;
        self.synchronize()
    }

    /// Launch and wait, plus the fault work spindle's launches did per call
    /// while their fault records lived in device memory: clear the record
    /// before (`cuMemsetD8Async`), copy it back after (`cuMemcpyDtoHAsync`).
    /// spindle's records now live in mapped pinned memory and cost neither;
    /// this row shows what that saved.
    pub fn launch_sync_with_fault(&mut self) -> Result<(), String> {
        self.stream
            .memset_zeros(&mut self.fault)
            .map_err(|e| driver("clearing the fault record", e))?;
        self.launch_async()?;
        self.stream
            .memcpy_dtoh(&self.fault, &mut self.fault_host)
            .map_err(|e| driver("reading the fault record", e))?;
        self.synchronize()?;
        if self.fault_host[0] != 0 {
            return Err("raw cudarc: the kernel reported a fault".into());
        }
        Ok(())
    }

    pub fn synchronize(&self) -> Result<(), String> {
        self.stream
            .synchronize()
            .map_err(|e| driver("synchronising", e))
    }

    /// The output, for checking the launches did their work.
    pub fn output(&self) -> Result<Vec<u32>, String> {
        let v = self
            .stream
            .clone_dtoh(&self.out)
            .map_err(|e| driver("reading the output", e))?;
        self.synchronize()?;
        Ok(v)
    }
}
