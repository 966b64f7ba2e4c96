//! CPU backend: the examples' kernels against the same work in plain Rust,
//! each result checked once against the plain Rust before it is timed.

use spindle::prelude::*;

use crate::harness::measure;
use crate::kernels::touch;
use crate::report::Reporter;
use crate::{bitonic_sort, blur_2d, particles, quickstart};

const GROUP: &str = "cpu";

/// One figure group: measures and reports, or says why it could not.
type Figure = fn(&mut Reporter, &Device) -> Result<(), String>;

pub fn run(r: &mut Reporter) {
    r.section("CPU backend: the examples' kernels against plain Rust");
    let dev = Device::cpu();
    println!("  device: {}", dev.name());
    let checks: [(&str, Figure); 5] = [
        ("trivial launch", trivial_launch),
        ("saxpy", saxpy),
        ("box blur", blur),
        ("particles", particles_step),
        ("bitonic sort", sort),
    ];
    for (what, f) in checks {
        if let Err(e) = f(r, &dev) {
            r.skip(GROUP, what, &e);
        }
    }
}

fn err(e: spindle::Error) -> String {
    format!("the CPU backend failed: {e}")
}

/// Launch overhead of the backend itself: one 32-thread block.
fn trivial_launch(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let mut out = dev.zeros::<u32>(32).map_err(err)?;
    touch::launch(dev, Launch::new(1u32, 32u32), &mut out).map_err(err)?;
    if out.to_vec().map_err(err)? != vec![1u32; 32] {
        return Err("`touch` gave a wrong result on the CPU backend".into());
    }
    let s = measure(100, r.reps(2000), || {
        touch::launch(dev, Launch::new(1u32, 32u32), &mut out).unwrap();
    });
    r.time(GROUP, "trivial launch (1 block of 32) spindle cpu", s, "");
    Ok(())
}

fn saxpy(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let n = 1usize << 20;
    let x_host: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    let mut y_host = vec![1.0f32; n];
    let x = dev.upload(&x_host).map_err(err)?;
    let mut y = dev.upload(&y_host).map_err(err)?;
    quickstart::saxpy::launch(dev, Launch::for_elements(n), 2.0, &x, &mut y).map_err(err)?;
    let want: Vec<f32> = x_host.iter().map(|&xi| 2.0 * xi + 1.0).collect();
    check("saxpy", &y.to_vec().map_err(err)?, &want)?;

    let reps = r.reps(40);
    let kernel = measure(2, reps, || {
        quickstart::saxpy::launch(dev, Launch::for_elements(n), 1.0001, &x, &mut y).unwrap();
    });
    let plain = measure(2, reps, || {
        let a = std::hint::black_box(1.0001f32);
        for (yi, xi) in y_host.iter_mut().zip(&x_host) {
            *yi += a * *xi;
        }
        std::hint::black_box(&mut y_host);
    });
    r.time(GROUP, "quickstart saxpy n=2^20 spindle cpu", kernel, "");
    r.time(GROUP, "quickstart saxpy n=2^20 plain Rust", plain, "");
    r.ratio(
        GROUP,
        "quickstart saxpy: spindle cpu / plain Rust",
        kernel,
        plain,
        None,
        "",
    );
    Ok(())
}

fn blur(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let (w, h) = (640u32, 480u32);
    let src: Vec<f32> = (0..w * h)
        .map(|i| ((i.wrapping_mul(2654435761)) >> 24) as f32 / 255.0)
        .collect();
    let input = dev.upload(&src).map_err(err)?;
    let mut out = dev.zeros::<f32>(src.len()).map_err(err)?;
    let launch = blur_2d::blur_launch(w, h);
    blur_2d::box_blur::launch(dev, launch, w, h, &input, &mut out).map_err(err)?;
    check(
        "box_blur",
        &out.to_vec().map_err(err)?,
        &blur_2d::blur_reference(w, h, &src),
    )?;

    let reps = r.reps(30);
    let kernel = measure(2, reps, || {
        blur_2d::box_blur::launch(dev, launch, w, h, &input, &mut out).unwrap();
    });
    let plain = measure(2, reps, || {
        std::hint::black_box(blur_2d::blur_reference(std::hint::black_box(w), h, &src));
    });
    r.time(GROUP, "blur_2d box_blur 640x480 spindle cpu", kernel, "");
    r.time(
        GROUP,
        "blur_2d box_blur 640x480 plain Rust",
        plain,
        "blur_reference",
    );
    r.ratio(
        GROUP,
        "blur_2d: spindle cpu / plain Rust",
        kernel,
        plain,
        None,
        "",
    );
    Ok(())
}

fn particles_step(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let n = 10_000;
    let params = particles::Params {
        dt: 0.01,
        gravity: 9.81,
    };
    let mut host = particles::cloud(n, 7);
    let mut buf = dev.upload(&host).map_err(err)?;
    particles::step::launch(dev, Launch::for_elements(n), params, &mut buf).map_err(err)?;
    let mut want = host.clone();
    want.iter_mut().for_each(|p| p.step(params));
    if buf.to_vec().map_err(err)? != want {
        return Err("particles::step differs from Particle::step on the CPU backend".into());
    }

    let reps = r.reps(100);
    let kernel = measure(3, reps, || {
        particles::step::launch(dev, Launch::for_elements(n), params, &mut buf).unwrap();
    });
    let plain = measure(3, reps, || {
        let p = *std::hint::black_box(&params);
        host.iter_mut().for_each(|q| q.step(p));
        std::hint::black_box(&mut host);
    });
    r.time(GROUP, "particles step n=10000 spindle cpu", kernel, "");
    r.time(
        GROUP,
        "particles step n=10000 plain Rust",
        plain,
        "Particle::step",
    );
    r.ratio(
        GROUP,
        "particles: spindle cpu / plain Rust",
        kernel,
        plain,
        None,
        "",
    );
    Ok(())
}

fn sort(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let n = 1usize << 16;
    let mut state = 0x9e37_79b9u32;
    let keys_host: Vec<u32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect();
    let mut want = keys_host.clone();
    want.sort_unstable();
    let mut keys = dev.upload(&keys_host).map_err(err)?;
    bitonic_sort::bitonic_sort(dev, &mut keys).map_err(err)?;
    if keys.to_vec().map_err(err)? != want {
        return Err("bitonic_sort differs from sort_unstable on the CPU backend".into());
    }
    let mut network = keys_host.clone();
    bitonic_plain(&mut network);
    if network != want {
        return Err("the plain-Rust bitonic network is wrong (bench bug)".into());
    }

    let reps = r.reps(10);
    let kernel = measure(1, reps, || {
        keys.copy_from(&keys_host).unwrap();
        bitonic_sort::bitonic_sort(dev, &mut keys).unwrap();
    });
    let mut scratch = keys_host.clone();
    let plain = measure(1, reps, || {
        scratch.copy_from_slice(&keys_host);
        bitonic_plain(&mut scratch);
        std::hint::black_box(&mut scratch);
    });
    let std_sort = measure(1, reps, || {
        scratch.copy_from_slice(&keys_host);
        scratch.sort_unstable();
        std::hint::black_box(&mut scratch);
    });
    r.time(
        GROUP,
        "bitonic_sort n=2^16 spindle cpu (136 launches)",
        kernel,
        "includes re-upload",
    );
    r.time(
        GROUP,
        "bitonic network n=2^16 plain Rust",
        plain,
        "same network",
    );
    r.time(GROUP, "sort_unstable n=2^16 plain Rust", std_sort, "");
    r.ratio(
        GROUP,
        "bitonic_sort: spindle cpu / plain Rust network",
        kernel,
        plain,
        None,
        "",
    );
    Ok(())
}

/// The example's network, stage for stage, in plain Rust.
fn bitonic_plain(keys: &mut [u32]) {
    let n = keys.len();
    let mut k = 2;
    while k <= n {
        let mut j = k / 2;
        while j > 0 {
            for i in 0..n {
                let partner = i ^ j;
                if partner > i {
                    let (a, b) = (keys[i], keys[partner]);
                    if (a > b) == ((i & k) == 0) {
                        keys.swap(i, partner);
                    }
                }
            }
            j /= 2;
        }
        k *= 2;
    }
}

fn check(what: &str, got: &[f32], want: &[f32]) -> Result<(), String> {
    match got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        None if got.len() == want.len() => Ok(()),
        None => Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.len()
        )),
        Some(i) => Err(format!(
            "{what} differs from plain Rust at {i}: {} vs {}",
            got[i], want[i]
        )),
    }
}
