// Fused beam step, device part, over logits [G*B, V] (float32 or bf16): per row, the max, log(sum exp(x - max))
// (online, one pass) and the top-K raw logits ordered by (value desc, index asc), K <= BEAM_MAX_K. The host
// merges the rows of each group with the Hamming penalty and beam scores (src/Csr.Kernels/BeamStep/
// BeamStep.Fused.cs is the CPU version of the same algorithm; BeamStepRows.Gpu.cs holds the ILGPU one).
//
// beam_rows_{f32,bf16}: grid = rows, block = BEAM_THREADS (256) threads, no dynamic shared memory.
//   1. Each thread strides over the row with 16-byte vector loads (common.cuh row_for_each), keeping an online
//      max / sum-exp state and a local top-K, insertion-sorted, in local memory (lv/li: K floats + K ints,
//      indexed dynamically so they live in L1-backed local memory; a register copy of the K-th value rejects
//      most elements with one compare). Its indices grow, so an equal value never displaces an earlier one.
//   2. The max / sum-exp states merge with warp shuffles and shared memory (lse_block_reduce).
//   3. Top-K merge, stage 1: each warp runs K rounds of a butterfly argmax (5 xor-shuffles, no barrier) over
//      its 32 lanes' list heads; the winning lane advances its head; lane 0 appends the winner to the warp's
//      list in shared memory (BEAM_WARPS x BEAM_MAX_K floats + ints = 4 KiB static).
//   4. Stage 2: one __syncthreads, then warp 0 merges the 8 sorted per-warp lists the same way (lane l reads
//      warp l's list) and writes the row's K candidates.
//   Bytes per row: V * sizeof(logit) read, 8 + 8 K written; GB/s = rows * V * sizeof(logit) / kernel time
//   (eng/gpu/ptx_check.py reports it against the HBM peak).
#include "common.cuh"

// lv / li are read only below the fill count n; nvcc cannot see that through the insertion loop.
#pragma nv_diag_suppress 549

#define BEAM_MAX_K 64
#define BEAM_THREADS 256
#define BEAM_WARPS (BEAM_THREADS / 32)

// a before b: larger value first, lower index on ties.
__device__ __forceinline__ bool beam_before(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Butterfly argmax under beam_before: every lane ends with the warp's first (v, i).
__device__ __forceinline__ void warp_best(float& v, int& i) {
  for (int off = 16; off > 0; off >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, off);
    int oi = __shfl_xor_sync(0xffffffffu, i, off);
    if (beam_before(ov, oi, v, i)) { v = ov; i = oi; }
  }
}

// Requires blockDim.x == BEAM_THREADS (the launchers' block) and 1 <= k <= min(BEAM_MAX_K, v).
template <typename T>
__device__ void beam_rows(const T* __restrict__ x, int rows, int v, int k, float* __restrict__ rmax, float* __restrict__ logsum,
                          float* __restrict__ topv, int* __restrict__ topi) {
  __shared__ float wv[BEAM_WARPS * BEAM_MAX_K];
  __shared__ int wi[BEAM_WARPS * BEAM_MAX_K];
  int r = blockIdx.x;
  if (r >= rows) return;
  const T* row = x + (long long)r * v;
  float lv[BEAM_MAX_K];
  int li[BEAM_MAX_K];
  int n = 0;
  float kth = -INFINITY;  // lv[k - 1] once the list is full
  LseState st{-INFINITY, 0.f};
  row_for_each(row, v, [&](int i, float xi) {
    st = lse_push(st, xi);
    if (n < k || xi > kth) {
      int p = n < k ? n : k - 1;
      while (p > 0 && lv[p - 1] < xi) { lv[p] = lv[p - 1]; li[p] = li[p - 1]; --p; }
      lv[p] = xi; li[p] = i;
      if (n < k) ++n;
      if (n == k) kth = lv[k - 1];
    }
  });
  st = lse_block_reduce(st);
  if (threadIdx.x == 0) { rmax[r] = st.m; logsum[r] = __logf(st.s); }

  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int head = 0;
  for (int j = 0; j < k; ++j) {
    float hv = head < n ? lv[head] : -INFINITY;
    int hi = head < n ? li[head] : 0x7fffffff;
    float bv = hv;
    int bi = hi;
    warp_best(bv, bi);
    if (lane == 0) { wv[warp * BEAM_MAX_K + j] = bv; wi[warp * BEAM_MAX_K + j] = bi; }
    if (bv == hv && bi == hi) ++head;
  }
  __syncthreads();

  if (warp == 0) {
    int h = 0;
    for (int j = 0; j < k; ++j) {
      bool has = lane < BEAM_WARPS && h < k;
      float hv = has ? wv[lane * BEAM_MAX_K + h] : -INFINITY;
      int hi = has ? wi[lane * BEAM_MAX_K + h] : 0x7fffffff;
      float bv = hv;
      int bi = hi;
      warp_best(bv, bi);
      if (lane == 0) { topv[(long long)r * k + j] = bv; topi[(long long)r * k + j] = bi; }
      if (has && bv == hv && bi == hi) ++h;
    }
  }
}

extern "C" __global__ void __launch_bounds__(BEAM_THREADS) beam_rows_f32(const float* x, int rows, int v, int k, float* rmax, float* logsum, float* topv, int* topi) {
  beam_rows<float>(x, rows, v, k, rmax, logsum, topv, topi);
}
extern "C" __global__ void __launch_bounds__(BEAM_THREADS) beam_rows_bf16(const unsigned short* x, int rows, int v, int k, float* rmax, float* logsum, float* topv, int* topi) {
  beam_rows<unsigned short>(x, rows, v, k, rmax, logsum, topv, topi);
}
