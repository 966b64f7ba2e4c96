// What the GPU machine itself allows, with no spindle code in the way, so that
// spindle's figures stand beside the floor they chase. Built and run by
// run.sh on the GPU machine (nvcc -O2 -arch=sm_XY), in the same run as the
// benchmark runner; the output lands in the report's "Floor" section.
//
// Physical floors on this machine, for the ring and batch anchors: host<->GPU ping-pong over mapped pinned
// memory (one slot), pipelined messages over a mapped ring (one polling lane vs a warp reading 32 slots at once),
// and empty-kernel launch+sync / async launch throughput with the runtime API.
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <vector>
#include <algorithm>
#include <chrono>
#include <atomic>
#include <cuda_runtime.h>
using clk = std::chrono::steady_clock;
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("CUDA error %s at %d\n", cudaGetErrorString(e), __LINE__); return 1; } } while (0)
__device__ __forceinline__ uint64_t ld_acq(const uint64_t* p) { uint64_t v; asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ void st_rel(uint64_t* p, uint64_t v) { asm volatile("st.release.sys.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
__global__ void pingpong(uint64_t* req, uint64_t* resp, uint64_t n) {
  for (uint64_t i = 1; i <= n; i++) { while (ld_acq(req) != i) {} st_rel(resp, i); }
}
// ring: slot k holds {seq, payload}; reply slot k holds {seq, value}. lanes = 1 or 32 consumers in a warp.
struct Slot { uint64_t seq; uint64_t val; };
__global__ void ring(Slot* rq, Slot* rp, uint64_t cap, uint64_t n) {
  unsigned lane = threadIdx.x, lanes = blockDim.x;
  for (uint64_t base = 0; base < n; base += lanes) {
    uint64_t i = base + lane;
    if (i < n) {
      Slot* s = &rq[i % cap];
      while (ld_acq(&s->seq) != i + 1) {}
      uint64_t v = *(volatile uint64_t*)&s->val;
      rp[i % cap].val = v + 1;
      st_rel(&rp[i % cap].seq, i + 1);
    }
  }
}
__global__ void empty() {}
static void stats(const char* what, std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  printf("%-44s p50 %8.3f us  p99 %8.3f us  (n=%zu)\n", what, v[v.size() / 2], v[v.size() * 99 / 100], v.size());
}
int main() {
  cudaDeviceProp p; CK(cudaGetDeviceProperties(&p, 0)); printf("GPU: %s sm_%d%d\n", p.name, p.major, p.minor);
  cudaStream_t s; CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // 1. ping-pong
  uint64_t* h; CK(cudaHostAlloc((void**)&h, 4096, cudaHostAllocMapped | cudaHostAllocPortable)); memset(h, 0, 4096);
  uint64_t *req = h, *resp = h + 16; uint64_t *dreq, *dresp;
  CK(cudaHostGetDevicePointer((void**)&dreq, req, 0)); CK(cudaHostGetDevicePointer((void**)&dresp, resp, 0));
  const uint64_t N = 200000;
  pingpong<<<1, 1, 0, s>>>(dreq, dresp, N);
  std::vector<double> rt; rt.reserve(N);
  auto* areq = reinterpret_cast<std::atomic<uint64_t>*>(req); auto* aresp = reinterpret_cast<std::atomic<uint64_t>*>(resp);
  for (uint64_t i = 1; i <= N; i++) {
    auto t0 = clk::now(); areq->store(i, std::memory_order_release);
    while (aresp->load(std::memory_order_acquire) != i) {}
    rt.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
  }
  CK(cudaStreamSynchronize(s)); stats("ping-pong round trip (mapped pinned)", rt);
  // 2. pipelined ring, 1 lane vs 32 lanes
  const uint64_t cap = 4096, M = 1 << 20;
  Slot* hr; CK(cudaHostAlloc((void**)&hr, 2 * cap * sizeof(Slot), cudaHostAllocMapped | cudaHostAllocPortable));
  for (int lanes : {1, 32}) {
    memset(hr, 0, 2 * cap * sizeof(Slot));
    Slot *rq = hr, *rp = hr + cap, *drq, *drp; CK(cudaHostGetDevicePointer((void**)&drq, rq, 0)); drp = drq + cap;
    ring<<<1, lanes, 0, s>>>(drq, drp, cap, M);
    auto t0 = clk::now(); uint64_t sent = 0, got = 0, bad = 0;
    while (got < M) {
      while (sent < M && sent - got < cap) {
        Slot* q = &rq[sent % cap]; q->val = sent;
        reinterpret_cast<std::atomic<uint64_t>*>(&q->seq)->store(sent + 1, std::memory_order_release); sent++;
      }
      Slot* r = &rp[got % cap];
      if (reinterpret_cast<std::atomic<uint64_t>*>(&r->seq)->load(std::memory_order_acquire) == got + 1) { bad += (r->val != got + 1); got++; }
    }
    double sec = std::chrono::duration<double>(clk::now() - t0).count();
    CK(cudaStreamSynchronize(s));
    printf("pipelined 8-byte messages, %2d polling lanes:  %8.3f M msg/s (%.0f ns/msg, %llu wrong)\n", lanes, M / sec / 1e6, sec * 1e9 / M, (unsigned long long)bad);
  }
  // 3. launch + sync, and async launch throughput
  std::vector<double> ls;
  for (int i = 0; i < 20000; i++) { auto t0 = clk::now(); empty<<<1, 32, 0, s>>>(); cudaStreamSynchronize(s); ls.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count()); }
  stats("empty kernel launch + stream sync", ls);
  auto t0 = clk::now(); for (int i = 0; i < 100000; i++) empty<<<1, 32, 0, s>>>(); CK(cudaStreamSynchronize(s));
  double sec = std::chrono::duration<double>(clk::now() - t0).count();
  printf("async empty launches, 1 sync per 100k:        %8.0f k launches/s\n", 100000 / sec / 1e3);
  cudaGraph_t g; cudaGraphExec_t ge; CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < 1000; i++) empty<<<1, 32, 0, s>>>();
  CK(cudaStreamEndCapture(s, &g)); CK(cudaGraphInstantiate(&ge, g, 0));
  t0 = clk::now(); for (int r = 0; r < 100; r++) CK(cudaGraphLaunch(ge, s)); CK(cudaStreamSynchronize(s));
  sec = std::chrono::duration<double>(clk::now() - t0).count();
  printf("graph of 1000 empty kernels, 100 replays:    %8.0f k kernels/s\n", 100000 / sec / 1e3);
  return 0;
}
