// Fused beam step, device part: one pass over each row of logits [G*B, V] computes the row's logsumexp
// max and log(sum exp(x - max)) (online) and its top-K raw logits ordered by (value desc, index asc). The host merges the rows of each
// group with the Hamming penalty and beam scores (src/Csr.Kernels/BeamStep/BeamStep.Fused.cs, which is
// the CPU version of the same algorithm). One block per row; each thread keeps a sorted local top-K of
// its strided elements, then K rounds of a block-wide argmax over the threads' list heads.
#include "common.cuh"

#define BEAM_MAX_K 64
#define BEAM_THREADS 256

// a before b: larger value first, lower index on ties.
__device__ __forceinline__ bool beam_before(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

template <typename T>
__device__ void beam_rows(const T* __restrict__ x, int rows, int v, int k, float* __restrict__ rmax, float* __restrict__ logsum,
                          float* __restrict__ topv, int* __restrict__ topi) {
  int r = blockIdx.x;
  if (r >= rows) return;
  const T* row = x + (long long)r * v;
  float lv[BEAM_MAX_K];
  int li[BEAM_MAX_K];
  int n = 0;
  LseState st{-INFINITY, 0.f};
  for (int i = threadIdx.x; i < v; i += blockDim.x) {
    float xi = load_logit(row, i);
    st = lse_push(st, xi);
    if (n < k || xi > lv[n - 1]) {          // indices grow, so an equal value never displaces
      int p = n < k ? n : k - 1;
      while (p > 0 && lv[p - 1] < xi) { lv[p] = lv[p - 1]; li[p] = li[p - 1]; --p; }
      lv[p] = xi; li[p] = i;
      if (n < k) ++n;
    }
  }
  st = lse_block_reduce(st);
  if (threadIdx.x == 0) { rmax[r] = st.m; logsum[r] = __logf(st.s); }

  __shared__ float hv[BEAM_THREADS];
  __shared__ int hi[BEAM_THREADS];
  __shared__ int ht[BEAM_THREADS];
  int head = 0;
  for (int j = 0; j < k; ++j) {
    hv[threadIdx.x] = head < n ? lv[head] : -INFINITY;
    hi[threadIdx.x] = head < n ? li[head] : 0x7fffffff;
    ht[threadIdx.x] = threadIdx.x;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s && beam_before(hv[threadIdx.x + s], hi[threadIdx.x + s], hv[threadIdx.x], hi[threadIdx.x])) {
        hv[threadIdx.x] = hv[threadIdx.x + s]; hi[threadIdx.x] = hi[threadIdx.x + s]; ht[threadIdx.x] = ht[threadIdx.x + s];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) { topv[(long long)r * k + j] = hv[0]; topi[(long long)r * k + j] = hi[0]; }
    if (threadIdx.x == ht[0]) ++head;
    __syncthreads();
  }
}

extern "C" __global__ void beam_rows_f32(const float* x, int rows, int v, int k, float* rmax, float* logsum, float* topv, int* topi) {
  beam_rows<float>(x, rows, v, k, rmax, logsum, topv, topi);
}
extern "C" __global__ void beam_rows_bf16(const unsigned short* x, int rows, int v, int k, float* rmax, float* logsum, float* topv, int* topi) {
  beam_rows<unsigned short>(x, rows, v, k, rmax, logsum, topv, topi);
}
