//! Launch geometry: [`Dim3`] and [`Launch`].

use spindle_codegen::ir::{MAX_BLOCK_THREADS, MAX_BLOCK_Z};

/// A 3-D size or index; also what `thread_idx()` and friends return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Dim3 {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

impl Dim3 {
    /// `Dim3 { x, y, z }`.
    pub const fn new(x: u32, y: u32, z: u32) -> Self {
        Dim3 { x, y, z }
    }

    /// `x * y * z`, widened.
    pub const fn volume(&self) -> u64 {
        self.x as u64 * self.y as u64 * self.z as u64
    }
}

impl From<u32> for Dim3 {
    fn from(x: u32) -> Self {
        Dim3 { x, y: 1, z: 1 }
    }
}

impl From<(u32, u32)> for Dim3 {
    fn from((x, y): (u32, u32)) -> Self {
        Dim3 { x, y, z: 1 }
    }
}

impl From<(u32, u32, u32)> for Dim3 {
    fn from((x, y, z): (u32, u32, u32)) -> Self {
        Dim3 { x, y, z }
    }
}

/// How to launch a batch kernel: grid and block sizes, dynamic shared memory.
///
/// ```
/// # use spindle_runtime as spindle;
/// use spindle::{Dim3, Launch};
/// let l = Launch::for_elements(1000);
/// assert_eq!(l.block, Dim3::new(256, 1, 1));
/// assert_eq!(l.grid, Dim3::new(4, 1, 1));
/// let l = Launch::new((8, 8), (16, 16, 1)).shared_bytes(1024);
/// assert_eq!(l.grid.y, 8);
/// assert_eq!(l.shared_bytes, 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Launch {
    pub grid: Dim3,
    pub block: Dim3,
    /// Dynamic shared memory per block, in bytes.
    pub shared_bytes: u32,
}

impl Launch {
    /// The block size [`Launch::for_elements`] uses.
    pub const DEFAULT_BLOCK: u32 = 256;

    /// A 1-D launch with at least `n` threads in blocks of
    /// [`Launch::DEFAULT_BLOCK`]. `n == 0` gives an empty grid, which the
    /// launch rejects with [`Error::InvalidLaunch`](crate::Error::InvalidLaunch).
    pub fn for_elements(n: usize) -> Self {
        let blocks = n.div_ceil(Self::DEFAULT_BLOCK as usize);
        Launch {
            grid: Dim3::from(u32::try_from(blocks).unwrap_or(u32::MAX)),
            block: Dim3::from(Self::DEFAULT_BLOCK),
            shared_bytes: 0,
        }
    }

    /// An explicit grid and block.
    pub fn new(grid: impl Into<Dim3>, block: impl Into<Dim3>) -> Self {
        Launch {
            grid: grid.into(),
            block: block.into(),
            shared_bytes: 0,
        }
    }

    /// Sets the dynamic shared memory per block, in bytes: what the
    /// kernel's [`dynamic_shared`](crate::gpu::dynamic_shared) views see.
    /// Above 48 KiB the CUDA backend opts the kernel in to the GPU's larger
    /// limit; the CPU backend refuses more than 227 KiB of shared memory per
    /// block (static and dynamic), the most any CUDA GPU gives one block.
    pub fn shared_bytes(mut self, n: u32) -> Self {
        self.shared_bytes = n;
        self
    }

    /// Checks the geometry against CUDA's limits, which every backend
    /// enforces so a program that runs on the CPU also launches on a GPU.
    pub fn validate(&self, kernel: &str) -> crate::Result<()> {
        let bad = |message: String| {
            Err(crate::Error::InvalidLaunch {
                kernel: kernel.to_string(),
                message,
            })
        };
        let (g, b) = (self.grid, self.block);
        if g.volume() == 0 || b.volume() == 0 {
            return bad(format!(
                "grid {g:?} and block {b:?} must be non-zero in every dimension"
            ));
        }
        let (most, most_z) = (MAX_BLOCK_THREADS, MAX_BLOCK_Z);
        if b.volume() > most as u64 || b.x > most || b.y > most || b.z > most_z {
            return bad(format!(
                "block {b:?} exceeds CUDA's limits (x, y ≤ {most}, z ≤ {most_z}, at most {most} \
                 threads)"
            ));
        }
        if g.x > i32::MAX as u32 || g.y > 65535 || g.z > 65535 {
            return bad(format!(
                "grid {g:?} exceeds CUDA's limits (x < 2^31, y and z ≤ 65535)"
            ));
        }
        Ok(())
    }
}
