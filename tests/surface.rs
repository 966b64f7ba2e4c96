//! The public surface a program sees: the kernel registry's opaque items,
//! and the glue reaching everything hidden through `spindle::__private`.

use spindle::prelude::*;
use spindle::RegisteredKernel;

#[kernel(mode = "batch")]
fn double(y: &mut [u32]) {
    let i = global_index();
    if i < y.len() {
        y[i] *= 2;
    }
}

#[kernel(mode = "ring")]
fn count(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

fn find(name: &str) -> RegisteredKernel {
    spindle::registered_kernels()
        .find(|k| k.name() == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

#[test]
fn registered_kernels_name_their_mode_and_source() {
    let mut names: Vec<&str> = spindle::registered_kernels().map(|k| k.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["count", "double"]);
    let (d, c) = (find("double"), find("count"));
    assert_eq!((d.mode(), c.mode()), (KernelMode::Batch, KernelMode::Ring));
    assert_eq!((double::MODE, count::MODE), (d.mode(), c.mode()));
    // The registry's source is the glue's.
    assert_eq!(d.cuda_source().unwrap(), double::cuda_source());
    assert_eq!(c.cuda_source().unwrap(), count::try_cuda_source().unwrap());
    assert!(d.cuda_source().unwrap().contains("spindle_double"));
    assert!(format!("{d:?}").contains("double"), "{d:?}");
}

#[test]
fn the_glue_runs_through_the_hidden_path() {
    let dev = Device::cpu();
    let mut y = dev.upload(&[1u32, 2, 3]).unwrap();
    double::launch(&dev, Launch::for_elements(3), &mut y).unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![2, 4, 6]);
    let mut actor = count::spawn_with(&dev, 10, RingConfig::default().capacity(8)).unwrap();
    assert_eq!(actor.call(5).unwrap(), 15);
    assert_eq!(actor.shutdown().unwrap(), 15);
}
