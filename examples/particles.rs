//! Structs in buffers: a particle system stepped under gravity with a
//! bouncing floor, plus a `#[device]` helper function.
//!
//! ```text
//! cargo run --release --example particles
//! ```

use spindle::prelude::*;

/// One particle. `#[repr(C)]` so Rust and CUDA agree on its layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Particle {
    pub pos: [f32; 3],
    pub vel: [f32; 3],
    pub mass: f32,
    pub bounces: u32,
}

/// Simulation constants, passed by value.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Params {
    pub dt: f32,
    pub gravity: f32,
    pub restitution: f32,
}

/// Speed after a bounce: reflected and damped.
#[device]
pub fn bounce(v: f32, restitution: f32) -> f32 {
    -v * restitution
}

/// Advances every particle by one time step.
#[kernel(mode = "batch")]
pub fn step(params: Params, particles: &mut [Particle]) {
    let i = global_index();
    if i >= particles.len() {
        return;
    }
    let mut p = particles[i];
    p.vel[1] -= params.gravity * params.dt;
    for d in 0..3 {
        p.pos[d] += p.vel[d] * params.dt;
    }
    if p.pos[1] < 0.0 {
        p.pos[1] = -p.pos[1];
        p.vel[1] = bounce(p.vel[1], params.restitution);
        p.bounces += 1;
    }
    particles[i] = p;
}

/// Kinetic energy of each particle.
#[kernel(mode = "batch")]
pub fn kinetic_energy(particles: &[Particle], energy: &mut [f32]) {
    let i = global_index();
    if i < energy.len() {
        let v = particles[i].vel;
        energy[i] = 0.5 * particles[i].mass * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    }
}

/// One step in plain Rust, as the reference.
pub fn step_reference(params: &Params, p: &mut Particle) {
    p.vel[1] -= params.gravity * params.dt;
    for d in 0..3 {
        p.pos[d] += p.vel[d] * params.dt;
    }
    if p.pos[1] < 0.0 {
        p.pos[1] = -p.pos[1];
        p.vel[1] = -p.vel[1] * params.restitution;
        p.bounces += 1;
    }
}

/// A deterministic cloud of particles.
pub fn cloud(n: usize, seed: u64) -> Vec<Particle> {
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 40) as f32) / (1u64 << 24) as f32
    };
    (0..n)
        .map(|_| Particle {
            pos: [next() * 10.0, next() * 5.0, next() * 10.0],
            vel: [next() - 0.5, next() * 2.0, next() - 0.5],
            mass: 0.5 + next(),
            bounces: 0,
        })
        .collect()
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let params = Params {
        dt: 0.01,
        gravity: 9.81,
        restitution: 0.8,
    };
    let n = 10_000;
    let mut host = cloud(n, 7);
    let mut particles = dev.upload(&host)?;
    for _ in 0..200 {
        step::launch(&dev, Launch::for_elements(n), params, &mut particles)?;
    }
    for p in &mut host {
        for _ in 0..200 {
            step_reference(&params, p);
        }
    }
    let got = particles.to_vec()?;
    let same = got.iter().zip(&host).filter(|(a, b)| a == b).count();
    let mut energy = dev.zeros::<f32>(n)?;
    kinetic_energy::launch(&dev, Launch::for_elements(n), &particles, &mut energy)?;
    let total: f32 = energy.to_vec()?.iter().sum();
    let bounces: u32 = got.iter().map(|p| p.bounces).sum();
    println!(
        "{n} particles, 200 steps on {}: {same}/{n} identical to the Rust reference, \
         {bounces} bounces, kinetic energy {total:.1}",
        dev.name()
    );
    Ok(())
}
