//! Every example's kernels on the CPU backend against plain Rust, with fresh
//! random inputs and every output element checked; and every one of them
//! compiled with the real NVRTC.

mod common;

#[path = "../examples/bitonic_sort.rs"]
mod bitonic_sort;
#[path = "../examples/blur_2d.rs"]
mod blur_2d;
#[path = "../examples/generic_library.rs"]
mod generic_library;
#[path = "../examples/histogram.rs"]
mod histogram;
#[path = "../examples/interp.rs"]
mod interp;
#[path = "../examples/particles.rs"]
mod particles;
#[path = "../examples/quickstart.rs"]
mod quickstart;

use spindle::{Device, Launch};

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[test]
fn saxpy_matches_rust() {
    let mut rng = common::rng("saxpy_matches_rust");
    for dev in devices("saxpy_matches_rust") {
        for n in [1usize, 255, 256, 257, 10_000] {
            let a = rng.f32() * 4.0 - 2.0;
            let x: Vec<f32> = (0..n).map(|_| rng.f32() * 100.0 - 50.0).collect();
            let y: Vec<f32> = (0..n).map(|_| rng.f32() * 100.0 - 50.0).collect();
            let xb = dev.upload(&x).unwrap();
            let mut yb = dev.upload(&y).unwrap();
            quickstart::saxpy::launch(&dev, Launch::for_elements(n), a, &xb, &mut yb).unwrap();
            let got = yb.to_vec().unwrap();
            for i in 0..n {
                assert_eq!(
                    got[i].to_bits(),
                    (a * x[i] + y[i]).to_bits(),
                    "element {i} of {n} on {}",
                    dev.name()
                );
            }
        }
    }
}

#[test]
fn blur_matches_rust() {
    let mut rng = common::rng("blur_matches_rust");
    for dev in devices("blur_matches_rust") {
        for (w, h) in [(1u32, 1u32), (17, 5), (64, 48), (33, 70)] {
            let src: Vec<f32> = (0..w * h).map(|_| rng.f32()).collect();
            let input = dev.upload(&src).unwrap();
            let mut out = dev.zeros::<f32>(src.len()).unwrap();
            blur_2d::box_blur::launch(&dev, blur_2d::blur_launch(w, h), w, h, &input, &mut out)
                .unwrap();
            let got = out.to_vec().unwrap();
            let want = blur_2d::blur_reference(w, h, &src);
            for i in 0..got.len() {
                assert_eq!(got[i].to_bits(), want[i].to_bits(), "pixel {i} of {w}x{h}");
            }
        }
    }
}

#[test]
fn particles_match_rust() {
    let mut rng = common::rng("particles_match_rust");
    let params = particles::Params {
        dt: 0.005 + rng.f32() * 0.02,
        gravity: 9.81,
    };
    for dev in devices("particles_match_rust") {
        let n = 1000 + rng.usize(..500);
        let mut host = particles::cloud(n, rng.u64(..));
        let mut buf = dev.upload(&host).unwrap();
        for _ in 0..50 {
            particles::step::launch(&dev, Launch::for_elements(n), params, &mut buf).unwrap();
        }
        // The reference: the same methods, run by Rust.
        for p in &mut host {
            for _ in 0..50 {
                p.step(params);
            }
        }
        let got = buf.to_vec().unwrap();
        for i in 0..n {
            assert_eq!(got[i], host[i], "particle {i}");
        }
        assert!(host.iter().any(|p| p.bounces > 0), "no particle bounced");
        let mut energy = dev.zeros::<f32>(n).unwrap();
        particles::kinetic_energy::launch(&dev, Launch::for_elements(n), &buf, &mut energy)
            .unwrap();
        let e = energy.to_vec().unwrap();
        for i in 0..n {
            let want = host[i].kinetic_energy();
            assert_eq!(e[i].to_bits(), want.to_bits(), "energy {i}");
        }
    }
}

#[test]
fn interp_matches_rust() {
    let mut rng = common::rng("interp_matches_rust");
    let program = interp::factorial_program();
    for dev in devices("interp_matches_rust") {
        let mut inputs: Vec<i32> = (-3..40).collect();
        inputs.extend((0..200).map(|_| rng.i32(-2..30)));
        let ib = dev.upload(&inputs).unwrap();
        let mut out = dev.zeros::<interp::Outcome>(inputs.len()).unwrap();
        interp::interpret::launch(
            &dev,
            Launch::for_elements(inputs.len()),
            program,
            &ib,
            &mut out,
        )
        .unwrap();
        let got = out.to_vec().unwrap();
        for (i, x) in inputs.iter().enumerate() {
            assert_eq!(
                got[i],
                interp::run(&program, *x),
                "input {x} on {}",
                dev.name()
            );
        }
        // 5! = 120; a negative input never reaches 0.
        assert_eq!((got[8].top, got[8].stop), (120, interp::Stop::Halted));
        assert_eq!(got[0].stop, interp::Stop::OutOfSteps);
    }
}

#[test]
fn bitonic_sort_matches_sort_unstable() {
    let mut rng = common::rng("bitonic_sort_matches_sort_unstable");
    for dev in devices("bitonic_sort_matches_sort_unstable") {
        for log_n in [1u32, 5, 10, 13] {
            let host: Vec<u32> = (0..1usize << log_n).map(|_| rng.u32(..)).collect();
            let mut keys = dev.upload(&host).unwrap();
            let launches = bitonic_sort::bitonic_sort(&dev, &mut keys).unwrap();
            assert_eq!(launches, log_n * (log_n + 1) / 2);
            let mut want = host.clone();
            want.sort_unstable();
            assert_eq!(keys.to_vec().unwrap(), want, "n = {}", host.len());
        }
    }
}

/// The queued and graph variants against the synchronous sort, on every
/// backend with queues (graphs where the backend has them).
#[test]
fn bitonic_sort_queued_and_graph_match_the_synchronous_one() {
    let mut rng = common::rng("bitonic_sort_queued_and_graph_match_the_synchronous_one");
    for dev in devices("bitonic_sort_queued_and_graph_match_the_synchronous_one") {
        let q = match dev.queue() {
            Ok(q) => q,
            Err(e) => {
                eprintln!("skipping queued bitonic sort on {}: {e}", dev.name());
                continue;
            }
        };
        for log_n in [1u32, 6, 12] {
            let host: Vec<u32> = (0..1usize << log_n).map(|_| rng.u32(..)).collect();
            let mut sync_keys = dev.upload(&host).unwrap();
            bitonic_sort::bitonic_sort(&dev, &mut sync_keys).unwrap();
            let want = sync_keys.to_vec().unwrap();
            let mut keys = dev.upload(&host).unwrap();
            let queued = bitonic_sort::bitonic_sort_queued(&q, &mut keys).unwrap();
            assert_eq!(queued, log_n * (log_n + 1) / 2);
            assert_eq!(keys.to_vec().unwrap(), want, "queued, n = {}", host.len());
            let mut keys = dev.upload(&host).unwrap();
            let graph = match bitonic_sort::bitonic_sort_graph(&q, &mut keys) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("skipping the graph variant on {}: {e}", dev.name());
                    continue;
                }
            };
            assert_eq!(graph.len() as u32, queued);
            // Replayed on fresh data each time: the graph sorts what the
            // buffer holds when it runs.
            for round in 0..3 {
                let fresh: Vec<u32> = (0..host.len()).map(|_| rng.u32(..)).collect();
                keys.copy_from(&fresh).unwrap();
                graph.launch(&q).unwrap();
                let mut want = fresh.clone();
                want.sort_unstable();
                assert_eq!(
                    keys.to_vec().unwrap(),
                    want,
                    "graph round {round}, n = {}",
                    host.len()
                );
            }
            q.sync().unwrap();
        }
    }
}

#[test]
fn bitonic_sort_refuses_other_lengths() {
    let dev = common::cpu();
    let mut keys = dev.upload(&[3u32, 1, 2]).unwrap();
    let err = bitonic_sort::bitonic_sort(&dev, &mut keys).unwrap_err();
    assert!(
        err.to_string().contains("power-of-two length, got 3"),
        "{err}"
    );
    assert_eq!(keys.to_vec().unwrap(), vec![3, 1, 2], "nothing was touched");
}

#[test]
fn histogram_matches_rust() {
    let mut rng = common::rng("histogram_matches_rust");
    for dev in devices("histogram_matches_rust") {
        for (n, blocks) in [(1usize, 1u32), (1000, 3), (100_003, 17)] {
            let mut data = histogram::sample_bytes(n);
            // Random bytes mixed in, so the test is not one fixed input.
            for b in data.iter_mut().step_by(7) {
                *b = rng.u8(..);
            }
            let data_buf = dev.upload(&data).unwrap();
            let mut bins = dev.zeros::<u32>(histogram::BINS).unwrap();
            histogram::histogram::launch(
                &dev,
                Launch::new(blocks, histogram::BLOCK),
                &data_buf,
                &mut bins,
            )
            .unwrap();
            assert_eq!(
                bins.to_vec().unwrap(),
                histogram::histogram_reference(&data),
                "{n} bytes in {blocks} blocks on {}",
                dev.name()
            );
        }
    }
}

#[test]
fn block_sums_match_rust() {
    let mut rng = common::rng("block_sums_match_rust");
    for dev in devices("block_sums_match_rust") {
        for n in [1usize, 255, 256, 257, 10_000] {
            let values: Vec<u32> = (0..n).map(|_| rng.u32(..)).collect();
            let values_buf = dev.upload(&values).unwrap();
            let mut sums = dev
                .zeros::<u32>(n.div_ceil(histogram::BLOCK as usize))
                .unwrap();
            histogram::block_sums::launch(&dev, histogram::launch_for(n), &values_buf, &mut sums)
                .unwrap();
            assert_eq!(
                sums.to_vec().unwrap(),
                histogram::block_sums_reference(&values),
                "{n} values on {}",
                dev.name()
            );
        }
    }
}

#[test]
fn every_example_kernel_compiles_with_nvrtc() {
    // A generic kernel is registered by the instantiations made so far.
    assert_eq!(generic_library::instantiations().len(), 12);
    common::compile_all_kernels_with_nvrtc("every_example_kernel_compiles_with_nvrtc");
}

#[test]
fn generic_library_matches_rust() {
    for dev in devices("generic_library_matches_rust") {
        generic_library::run(&dev).unwrap();
    }
}
