//! Structs with methods in buffers: a particle system stepped under
//! gravity, each particle bouncing off the floor as its surface allows
//! (an enum and a `match`), written as ordinary Rust with
//! `#[device] impl` blocks; the host steps the same methods as the
//! reference.
//!
//! ```text
//! cargo run --release --example particles
//! ```

use spindle::prelude::*;

/// A 3-vector. `#[repr(C)]` so Rust and CUDA agree on its layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Vec3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

#[device]
impl Vec3 {
    pub fn new(x: f32, y: f32, z: f32) -> Self {
        Vec3 { x, y, z }
    }

    pub fn plus(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }

    pub fn scaled(self, k: f32) -> Vec3 {
        Vec3::new(self.x * k, self.y * k, self.z * k)
    }

    pub fn dot(&self, o: Vec3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
}

/// What a particle is made of: how much of its speed a bounce keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(u32)]
pub enum Surface {
    #[default]
    Rubber,
    Steel,
    Clay,
}

/// One particle.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Particle {
    pub pos: Vec3,
    pub vel: Vec3,
    pub mass: f32,
    pub surface: Surface,
    pub bounces: u32,
}

/// Simulation constants, passed by value.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Params {
    pub dt: f32,
    pub gravity: f32,
}

#[device]
impl Particle {
    /// The share of its speed a bounce keeps.
    pub fn restitution(&self) -> f32 {
        match self.surface {
            Surface::Rubber => 0.9,
            Surface::Steel => 0.6,
            Surface::Clay => 0.1,
        }
    }

    /// One time step: fall, move, bounce off the floor at `y = 0`.
    pub fn step(&mut self, p: Params) {
        self.vel.y -= p.gravity * p.dt;
        self.pos = self.pos.plus(self.vel.scaled(p.dt));
        if self.pos.y < 0.0 {
            self.pos.y = -self.pos.y;
            self.vel.y = -self.vel.y * self.restitution();
            self.bounces += 1;
        }
    }

    pub fn kinetic_energy(&self) -> f32 {
        0.5 * self.mass * self.vel.dot(self.vel)
    }
}

/// Advances every particle by one time step.
#[kernel(mode = "batch")]
pub fn step(params: Params, particles: &mut [Particle]) {
    let i = global_index();
    if i < particles.len() {
        particles[i].step(params);
    }
}

/// Kinetic energy of each particle.
#[kernel(mode = "batch")]
pub fn kinetic_energy(particles: &[Particle], energy: &mut [f32]) {
    let i = global_index();
    if i < energy.len() {
        energy[i] = particles[i].kinetic_energy();
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
    let surfaces = [Surface::Rubber, Surface::Steel, Surface::Clay];
    (0..n)
        .map(|i| Particle {
            pos: Vec3::new(next() * 10.0, next() * 5.0, next() * 10.0),
            vel: Vec3::new(next() - 0.5, next() * 2.0, next() - 0.5),
            mass: 0.5 + next(),
            surface: surfaces[i % 3],
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
    };
    let n = 10_000;
    let mut host = cloud(n, 7);
    let mut particles = dev.upload(&host)?;
    for _ in 0..200 {
        step::launch(&dev, Launch::for_elements(n), params, &mut particles)?;
    }
    // The reference: the same methods, run by Rust on the host.
    for p in &mut host {
        for _ in 0..200 {
            p.step(params);
        }
    }
    let got = particles.to_vec()?;
    let same = got.iter().zip(&host).filter(|(a, b)| a == b).count();
    let mut energy = dev.zeros::<f32>(n)?;
    kinetic_energy::launch(&dev, Launch::for_elements(n), &particles, &mut energy)?;
    let total: f32 = energy.to_vec()?.iter().sum();
    let bounces: u32 = got.iter().map(|p| p.bounces).sum();
    let resting = got.iter().filter(|p| p.vel.dot(p.vel) < 0.01).count();
    println!(
        "{n} particles, 200 steps on {}: {same}/{n} identical to the Rust reference, \
         {bounces} bounces, {resting} nearly at rest, kinetic energy {total:.1}",
        dev.name()
    );
    Ok(())
}
