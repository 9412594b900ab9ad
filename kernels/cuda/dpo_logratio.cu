// DPO log-ratio: per (n, t) row of logits [N, T, V], lp = x[label] - logsumexp(x) (online, one read of the
// row) and the row's logsumexp for the backward; masked rows are skipped. The backward recomputes
// dlogits = g[n] * valid * (onehot(label) - exp(x - lse)). One block per row, threads stride over V.
// Mirrors src/Csr.Kernels/DpoLogRatio/DpoLogRatio.Fused.cs (the CPU reference of this file).
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
  for (int i = threadIdx.x; i < v; i += blockDim.x) st = lse_push(st, load_logit(row, i));
  st = lse_block_reduce(st);
  if (threadIdx.x == 0) {
    float l = st.m + __logf(st.s);
    lse[r] = l;
    lp[r] = load_logit(row, labels[r]) - l;
  }
}

template <typename T>
__device__ void store_grad(T* o, long long i, float g);
template <> __device__ __forceinline__ void store_grad<float>(float* o, long long i, float g) { o[i] = g; }
template <> __device__ __forceinline__ void store_grad<unsigned short>(unsigned short* o, long long i, float g) { o[i] = float_to_bf16(g); }

template <typename T>
__device__ void dpo_backward(const T* __restrict__ x, const long long* __restrict__ labels, const float* __restrict__ valid,
                             const float* __restrict__ lse, const float* __restrict__ gout, T* __restrict__ grad,
                             int rows, int t, int v) {
  int r = blockIdx.x;
  if (r >= rows) return;
  float scale = gout[r / t] * valid[r];
  const T* row = x + (long long)r * v;
  T* out = grad + (long long)r * v;
  long long label = labels[r];
  float l = lse[r];
  for (int i = threadIdx.x; i < v; i += blockDim.x) {
    float g = scale == 0.f ? 0.f : -scale * __expf(load_logit(row, i) - l) + (i == label ? scale : 0.f);
    store_grad(out, i, g);
  }
}

extern "C" __global__ void dpo_rows_f32(const float* x, const long long* labels, const float* valid, float* lp, float* lse, int rows, int v) {
  dpo_rows<float>(x, labels, valid, lp, lse, rows, v);
}
extern "C" __global__ void dpo_rows_bf16(const unsigned short* x, const long long* labels, const float* valid, float* lp, float* lse, int rows, int v) {
  dpo_rows<unsigned short>(x, labels, valid, lp, lse, rows, v);
}
extern "C" __global__ void dpo_backward_f32(const float* x, const long long* labels, const float* valid, const float* lse,
                                            const float* gout, float* grad, int rows, int t, int v) {
  dpo_backward<float>(x, labels, valid, lse, gout, grad, rows, t, v);
}
extern "C" __global__ void dpo_backward_bf16(const unsigned short* x, const long long* labels, const float* valid, const float* lse,
                                             const float* gout, unsigned short* grad, int rows, int t, int v) {
  dpo_backward<unsigned short>(x, labels, valid, lse, gout, grad, rows, t, v);
}
