//! What the code that `#[kernel]`, `#[device]` and `#[derive(DeviceType)]`
//! generate names beyond the public API, in one module: the facade
//! re-exports it as `spindle::__private`, and generated code reaches
//! everything hidden through that one path (it never names this crate or
//! `spindle_codegen`). Not an API: it changes with the macros.

pub use std::sync::OnceLock;

pub use inventory;
pub use spindle_codegen::ir::Scalar;
pub use spindle_codegen::layout::{
    follows_c_layout, has_zero_variant, ConstValue, EnumLayout, EnumVariant, FieldLayout,
    FieldShape, GenericField, GenericStruct, StructLayout, TypeDesc,
};

pub use spindle_codegen::GenericArg;

pub use crate::kernel::{
    const_value, ConstInfo, DeviceFnInfo, DeviceImplInfo, DeviceImplRegistration, Generic,
    KernelArg, KernelInfo, KernelRegistration,
};

use crate::{
    Actor, ActorGroup, Device, DeviceType, GroupConfig, Launch, Queue, Result, RingConfig,
};

/// `name::launch`: links the kernel at first use, checks the launch and
/// the arguments against it, runs it on `device` and waits for it.
pub fn launch_batch(
    device: &Device,
    info: &'static KernelInfo,
    launch: Launch,
    args: &mut [KernelArg<'_>],
) -> Result<()> {
    device.launch_batch(info, launch, args)
}

/// `name::enqueue`: links the kernel at first use, checks the launch and
/// the arguments against it, and queues it on `queue` without waiting.
pub fn enqueue_batch(
    queue: &Queue,
    info: &'static KernelInfo,
    launch: Launch,
    args: &mut [KernelArg<'_>],
) -> Result<()> {
    queue.enqueue_batch(info, launch, args)
}

/// `name::kernel`: the kernel (or instantiation) as the public API shows it.
pub fn registered(info: &'static KernelInfo) -> crate::RegisteredKernel {
    crate::RegisteredKernel(info)
}

/// `name::try_cuda_source`: the CUDA C generated for the kernel.
pub fn cuda_source(info: &'static KernelInfo) -> Result<String> {
    info.cuda_source()
}

/// `name::spawn` and `name::spawn_with`: starts the ring kernel `info` on
/// `device` as an actor with initial state `init`.
pub fn spawn_actor<S: DeviceType, M: DeviceType, R: DeviceType>(
    device: &Device,
    info: &'static KernelInfo,
    init: S,
    config: RingConfig,
) -> Result<Actor<S, M, R>> {
    Actor::spawn_kernel(device, info, init, config)
}

/// `name::spawn_group` and `name::spawn_group_with`: starts the ring
/// kernel `info` on `device` as a group of actors, one per initial state.
pub fn spawn_group<S: DeviceType, M: DeviceType, R: DeviceType>(
    device: &Device,
    info: &'static KernelInfo,
    inits: Vec<S>,
    config: GroupConfig,
) -> Result<ActorGroup<S, M, R>> {
    ActorGroup::spawn_kernel(device, info, inits, config)
}
