// Shared device helpers for the Csr.Kernels CUDA kernels (built to PTX by eng/build-ptx.sh).
#pragma once

// bf16 is the top half of an IEEE float: widen by shifting, narrow with round-to-nearest-even.
__device__ __forceinline__ float bf16_to_float(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }
__device__ __forceinline__ unsigned short float_to_bf16(float f) {
  unsigned int u = __float_as_uint(f);
  if (f != f) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

__device__ __forceinline__ float load_logit(const float* x, long long i) { return x[i]; }
__device__ __forceinline__ float load_logit(const unsigned short* x, long long i) { return bf16_to_float(x[i]); }

// Online logsumexp state (m = running max, s = sum of exp(x - m)); merging two states.
struct LseState { float m; float s; };

__device__ __forceinline__ LseState lse_merge(LseState a, LseState b) {
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  float m = fmaxf(a.m, b.m);
  return LseState{m, a.s * __expf(a.m - m) + b.s * __expf(b.m - m)};
}

__device__ __forceinline__ LseState lse_push(LseState a, float x) {
  if (x > a.m) { a.s = (a.m == -INFINITY ? 0.f : a.s * __expf(a.m - x)); a.m = x; }
  if (a.m != -INFINITY) a.s += __expf(x - a.m);
  return a;
}

// Block-wide merge of per-thread states; every thread gets the result. blockDim.x <= 1024, multiple of 32.
__device__ LseState lse_block_reduce(LseState st) {
  __shared__ float sm[32], ss[32];
  for (int off = 16; off > 0; off >>= 1) {
    LseState o{__shfl_xor_sync(0xffffffffu, st.m, off), __shfl_xor_sync(0xffffffffu, st.s, off)};
    st = lse_merge(st, o);
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) { sm[warp] = st.m; ss[warp] = st.s; }
  __syncthreads();
  if (warp == 0) {
    st = lane < nwarps ? LseState{sm[lane], ss[lane]} : LseState{-INFINITY, 0.f};
    for (int off = 16; off > 0; off >>= 1) {
      LseState o{__shfl_xor_sync(0xffffffffu, st.m, off), __shfl_xor_sync(0xffffffffu, st.s, off)};
      st = lse_merge(st, o);
    }
    if (lane == 0) { sm[0] = st.m; ss[0] = st.s; }
  }
  __syncthreads();
  LseState r{sm[0], ss[0]};
  __syncthreads();
  return r;
}
