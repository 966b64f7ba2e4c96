//! Unit tests of the CUDA emitter over hand-built IR. The `nvrtc` module
//! writes a corpus of emitted kernels for compiling with the real NVRTC.

mod basics;
mod control;
mod dynamic_shared;
mod from_rust;
mod intrinsics;
mod irb;
mod nvrtc;
mod ops;
mod parallel;
mod ranges;
mod types;
