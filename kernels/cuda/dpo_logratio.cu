// DPO log-ratio kernels over logits [N, T, V] (float32 or bf16), rows = N * T.
// Mirrors src/Csr.Kernels/DpoLogRatio/DpoLogRatio.Fused.cs (the CPU version) and DpoLogRatio.Ilgpu.cs.
//
// dpo_rows_{f32,bf16}: grid = rows, block = 256 threads, no dynamic shared memory.
//   One block per row. Threads stride over the row with 16-byte vector loads (common.cuh row_for_each:
//   8 bf16 or 4 float32 per load, consecutive per warp), each keeping an online logsumexp state (running
//   max m, sum of exp(x - m), one pass, float32) in registers. The states merge with warp xor-shuffles, then
//   8 per-warp partials in shared memory (2 x 32 floats static) and one more butterfly (lse_block_reduce).
//   Thread 0 writes lse[r] = m + log(s) and lp[r] = x[label] - lse[r] (one extra load, an L2 hit). A masked
//   row (valid == 0) reads no logits and writes zeros.
//   Bytes per counted row: V * sizeof(logit) read + 12 (label, mask) + 8 written.
//
// dpo_backward_{f32,bf16}: grid = rows, block = 256 threads, no shared memory.
//   One block per row recomputes softmax from the logits and the saved per-row lse and writes
//   dlogits = g[n] * valid * (onehot(label) - exp(x - lse)) in the logits' dtype, 16-byte loads and stores
//   (row_map). A row with g * valid == 0 writes zeros without reading its logits.
//   Bytes per counted row: 2 * V * sizeof(logit) (read logits, write dlogits) + 20.
//
// Achieved bandwidth: GB/s = bytes moved / kernel time, e.g. forward rows * V * sizeof(logit) / t and
// backward 2 * rows * V * sizeof(logit) / t; eng/gpu/ptx_check.py times both and states the fraction of the
// HBM peak (H200: 4.8 TB/s).
#include "common.cuh"

template <typename T>
__device__ void dpo_rows(const T* __restrict__ x, const long long* __restrict__ labels, const float* __restrict__ valid,
                         float* __restrict__ lp, float* __restrict__ lse, int rows, int v) {
  int r = blockIdx.x;
  if (r >= rows) return;
  if (valid[r] == 0.f) {
    if (threadIdx.x == 0) { lp[r] = 0.f; lse[r] = 0.f; }
    return;
  }
  const T* row = x + (long long)r * v;
  LseState st{-INFINITY, 0.f};
  row_for_each(row, v, [&](int, float xi) { st = lse_push(st, xi); });
  st = lse_block_reduce(st);
  if (threadIdx.x == 0) {
    float l = st.m + __logf(st.s);
    lse[r] = l;
    lp[r] = load_logit(row, labels[r]) - l;
  }
}

template <typename T>
__device__ void dpo_backward(const T* __restrict__ x, const long long* __restrict__ labels, const float* __restrict__ valid,
                             const float* __restrict__ lse, const float* __restrict__ gout, T* __restrict__ grad,
                             int rows, int t, int v) {
  int r = blockIdx.x;
  if (r >= rows) return;
  float scale = gout[r / t] * valid[r];
  T* out = grad + (long long)r * v;
  if (scale == 0.f) { row_zero(out, v); return; }
  const T* row = x + (long long)r * v;
  int label = (int)labels[r];
  float l = lse[r];
  row_map(row, out, v, [&](int i, float xi) {
    float g = -scale * __expf(xi - l);
    return i == label ? g + scale : g;
  });
}

extern "C" __global__ void __launch_bounds__(256) dpo_rows_f32(const float* x, const long long* labels, const float* valid, float* lp, float* lse, int rows, int v) {
  dpo_rows<float>(x, labels, valid, lp, lse, rows, v);
}
extern "C" __global__ void __launch_bounds__(256) dpo_rows_bf16(const unsigned short* x, const long long* labels, const float* valid, float* lp, float* lse, int rows, int v) {
  dpo_rows<unsigned short>(x, labels, valid, lp, lse, rows, v);
}
extern "C" __global__ void __launch_bounds__(256) dpo_backward_f32(const float* x, const long long* labels, const float* valid, const float* lse,
                                            const float* gout, float* grad, int rows, int t, int v) {
  dpo_backward<float>(x, labels, valid, lse, gout, grad, rows, t, v);
}
extern "C" __global__ void __launch_bounds__(256) dpo_backward_bf16(const unsigned short* x, const long long* labels, const float* valid, const float* lse,
                                             const float* gout, unsigned short* grad, int rows, int t, int v) {
  dpo_backward<unsigned short>(x, labels, valid, lse, gout, grad, rows, t, v);
}
