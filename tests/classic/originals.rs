//! The CUDA C originals of the kernels in `examples/classic_ports.rs`, as a
//! CUDA programmer writes them (`int` indices, `#pragma unroll`, no bounds
//! checks), compiled by the same NVRTC with the same options to compare
//! their resource use with the ports'.

/// One original and the port it is compared with.
pub struct Original {
    /// The spindle kernel (`examples/classic_ports.rs`).
    pub port: &'static str,
    /// The original's CUDA C: one translation unit, one kernel.
    pub source: &'static str,
}

/// Every original, in the order of the ports.
pub const ORIGINALS: &[Original] = &[
    Original {
        port: "matrix_mul_32",
        source: MATRIX_MUL,
    },
    Original {
        port: "reduce_sum",
        source: REDUCE,
    },
    Original {
        port: "transpose_32",
        source: TRANSPOSE,
    },
    Original {
        port: "stencil_1d",
        source: STENCIL,
    },
    Original {
        port: "vector_add",
        source: VECTOR_ADD,
    },
];

/// The tiled multiply of the CUDA samples' `matrixMul`, `BLOCK_SIZE = 32`.
pub const MATRIX_MUL: &str = r#"
template <int BLOCK_SIZE>
__global__ void MatrixMulCUDA(float* C, float* A, float* B, int wA, int wB) {
  int bx = blockIdx.x, by = blockIdx.y;
  int tx = threadIdx.x, ty = threadIdx.y;
  int aBegin = wA * BLOCK_SIZE * by;
  int aEnd = aBegin + wA - 1;
  int aStep = BLOCK_SIZE;
  int bBegin = BLOCK_SIZE * bx;
  int bStep = BLOCK_SIZE * wB;
  float Csub = 0;
  for (int a = aBegin, b = bBegin; a <= aEnd; a += aStep, b += bStep) {
    __shared__ float As[BLOCK_SIZE][BLOCK_SIZE];
    __shared__ float Bs[BLOCK_SIZE][BLOCK_SIZE];
    As[ty][tx] = A[a + wA * ty + tx];
    Bs[ty][tx] = B[b + wB * ty + tx];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BLOCK_SIZE; ++k) {
      Csub += As[ty][k] * Bs[k][tx];
    }
    __syncthreads();
  }
  int c = wB * BLOCK_SIZE * by + BLOCK_SIZE * bx;
  C[c + wB * ty + tx] = Csub;
}
template __global__ void MatrixMulCUDA<32>(float*, float*, float*, int, int);
"#;

/// A block sum in dynamic shared memory, two elements per thread on load,
/// then halving strides (the shape of the CUDA samples' `reduce3`).
pub const REDUCE: &str = r#"
extern "C" __global__ void reduce3(const float* g_idata, float* g_odata, unsigned int n) {
  extern __shared__ float sdata[];
  unsigned int tid = threadIdx.x;
  unsigned int i = blockIdx.x * (blockDim.x * 2) + threadIdx.x;
  float mySum = (i < n) ? g_idata[i] : 0;
  if (i + blockDim.x < n) mySum += g_idata[i + blockDim.x];
  sdata[tid] = mySum;
  __syncthreads();
  for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) sdata[tid] = mySum = mySum + sdata[tid + s];
    __syncthreads();
  }
  if (tid == 0) g_odata[blockIdx.x] = mySum;
}
"#;

/// The CUDA samples' `transposeNoBankConflicts`: a padded shared tile,
/// `TILE_DIM = 32`, `BLOCK_ROWS = 8`.
pub const TRANSPOSE: &str = r#"
#define TILE_DIM 32
#define BLOCK_ROWS 8
extern "C" __global__ void transposeNoBankConflicts(float* odata, float* idata, int width, int height) {
  __shared__ float tile[TILE_DIM][TILE_DIM + 1];
  int xIndex = blockIdx.x * TILE_DIM + threadIdx.x;
  int yIndex = blockIdx.y * TILE_DIM + threadIdx.y;
  int index_in = xIndex + yIndex * width;
  xIndex = blockIdx.y * TILE_DIM + threadIdx.x;
  yIndex = blockIdx.x * TILE_DIM + threadIdx.y;
  int index_out = xIndex + yIndex * height;
  for (int i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
    tile[threadIdx.y + i][threadIdx.x] = idata[index_in + i * width];
  }
  __syncthreads();
  for (int i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
    odata[index_out + i * height] = tile[threadIdx.x][threadIdx.y + i];
  }
}
"#;

/// The 1-D stencil of NVIDIA's introductory CUDA course: `RADIUS = 3`,
/// 256-thread blocks, a shared tile with a halo on each side.
pub const STENCIL: &str = r#"
#define RADIUS 3
#define BLOCK_SIZE 256
extern "C" __global__ void stencil_1d(const int* in, int* out) {
  __shared__ int temp[BLOCK_SIZE + 2 * RADIUS];
  int gindex = threadIdx.x + blockIdx.x * blockDim.x;
  int lindex = threadIdx.x + RADIUS;
  temp[lindex] = in[gindex + RADIUS];
  if (threadIdx.x < RADIUS) {
    temp[lindex - RADIUS] = in[gindex];
    temp[lindex + BLOCK_SIZE] = in[gindex + RADIUS + BLOCK_SIZE];
  }
  __syncthreads();
  int result = 0;
  for (int offset = -RADIUS; offset <= RADIUS; offset++) result += temp[lindex + offset];
  out[gindex] = result;
}
"#;

/// The CUDA samples' `vectorAdd`.
pub const VECTOR_ADD: &str = r#"
extern "C" __global__ void vectorAdd(const float* A, const float* B, float* C, int numElements) {
  int i = blockDim.x * blockIdx.x + threadIdx.x;
  if (i < numElements) C[i] = A[i] + B[i];
}
"#;
