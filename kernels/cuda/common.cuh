// Shared device helpers for the Csr.Kernels CUDA kernels (built to PTX by eng/build-ptx.sh).
//
// Row access: every kernel gives one block to one row of logits and lets its threads stride over the row in
// 16-byte vectors (4 float32 or 8 bf16 per load) when the row is 16-byte aligned and V a multiple of the
// vector width (V = 32000 is), so that each warp reads 512 consecutive bytes per load instruction; any other
// row falls back to scalar strided loads (still coalesced, 4 or 2 bytes per lane). A thread visits its
// elements in increasing index order in both layouts (the beam-step top-K relies on it). bf16 is widened to
// float32 in registers; all accumulation is float32.
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

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0; }

// Calls f(i, x) for this thread's elements of a row of v float32 logits, in increasing i.
template <typename F>
__device__ __forceinline__ void row_for_each(const float* __restrict__ row, int v, F f) {
  if ((v & 3) == 0 && aligned16(row)) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    for (int j = threadIdx.x; j < (v >> 2); j += blockDim.x) {
      float4 q = __ldg(r4 + j);
      int i = j << 2;
      f(i, q.x); f(i + 1, q.y); f(i + 2, q.z); f(i + 3, q.w);
    }
  } else {
    for (int i = threadIdx.x; i < v; i += blockDim.x) f(i, __ldg(row + i));
  }
}

// Same for bf16 logits (uint16 bits): 8 per 16-byte load, lower address in the low half of each word.
template <typename F>
__device__ __forceinline__ void row_for_each(const unsigned short* __restrict__ row, int v, F f) {
  if ((v & 7) == 0 && aligned16(row)) {
    const uint4* r8 = reinterpret_cast<const uint4*>(row);
    for (int j = threadIdx.x; j < (v >> 3); j += blockDim.x) {
      uint4 q = __ldg(r8 + j);
      int i = j << 3;
      f(i, __uint_as_float(q.x << 16)); f(i + 1, __uint_as_float(q.x & 0xffff0000u));
      f(i + 2, __uint_as_float(q.y << 16)); f(i + 3, __uint_as_float(q.y & 0xffff0000u));
      f(i + 4, __uint_as_float(q.z << 16)); f(i + 5, __uint_as_float(q.z & 0xffff0000u));
      f(i + 6, __uint_as_float(q.w << 16)); f(i + 7, __uint_as_float(q.w & 0xffff0000u));
    }
  } else {
    for (int i = threadIdx.x; i < v; i += blockDim.x) f(i, bf16_to_float(__ldg(row + i)));
  }
}

// out[i] = f(i, row[i]) over this thread's elements, 16-byte loads and stores where aligned (float32).
template <typename F>
__device__ __forceinline__ void row_map(const float* __restrict__ row, float* __restrict__ out, int v, F f) {
  if ((v & 3) == 0 && aligned16(row) && aligned16(out)) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (int j = threadIdx.x; j < (v >> 2); j += blockDim.x) {
      float4 q = __ldg(r4 + j);
      int i = j << 2;
      o4[j] = make_float4(f(i, q.x), f(i + 1, q.y), f(i + 2, q.z), f(i + 3, q.w));
    }
  } else {
    for (int i = threadIdx.x; i < v; i += blockDim.x) out[i] = f(i, __ldg(row + i));
  }
}

__device__ __forceinline__ unsigned int pack_bf16x2(float lo, float hi) {
  return (unsigned int)float_to_bf16(lo) | ((unsigned int)float_to_bf16(hi) << 16);
}

// Same for bf16 in and out: 8 elements per 16-byte load and store.
template <typename F>
__device__ __forceinline__ void row_map(const unsigned short* __restrict__ row, unsigned short* __restrict__ out, int v, F f) {
  if ((v & 7) == 0 && aligned16(row) && aligned16(out)) {
    const uint4* r8 = reinterpret_cast<const uint4*>(row);
    uint4* o8 = reinterpret_cast<uint4*>(out);
    for (int j = threadIdx.x; j < (v >> 3); j += blockDim.x) {
      uint4 q = __ldg(r8 + j);
      int i = j << 3;
      uint4 o;
      o.x = pack_bf16x2(f(i, __uint_as_float(q.x << 16)), f(i + 1, __uint_as_float(q.x & 0xffff0000u)));
      o.y = pack_bf16x2(f(i + 2, __uint_as_float(q.y << 16)), f(i + 3, __uint_as_float(q.y & 0xffff0000u)));
      o.z = pack_bf16x2(f(i + 4, __uint_as_float(q.z << 16)), f(i + 5, __uint_as_float(q.z & 0xffff0000u)));
      o.w = pack_bf16x2(f(i + 6, __uint_as_float(q.w << 16)), f(i + 7, __uint_as_float(q.w & 0xffff0000u)));
      o8[j] = o;
    }
  } else {
    for (int i = threadIdx.x; i < v; i += blockDim.x) out[i] = float_to_bf16(f(i, bf16_to_float(__ldg(row + i))));
  }
}

// Writes zeros over this thread's elements of a row (bytes = v * sizeof(T)), 16-byte stores where aligned.
template <typename T>
__device__ __forceinline__ void row_zero(T* __restrict__ out, int v) {
  const int per = 16 / (int)sizeof(T);
  if (v % per == 0 && aligned16(out)) {
    uint4* o = reinterpret_cast<uint4*>(out);
    for (int j = threadIdx.x; j < v / per; j += blockDim.x) o[j] = make_uint4(0u, 0u, 0u, 0u);
  } else {
    for (int i = threadIdx.x; i < v; i += blockDim.x) out[i] = (T)0;
  }
}

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

__device__ __forceinline__ LseState lse_warp_reduce(LseState st) {
  for (int off = 16; off > 0; off >>= 1) {
    LseState o{__shfl_xor_sync(0xffffffffu, st.m, off), __shfl_xor_sync(0xffffffffu, st.s, off)};
    st = lse_merge(st, o);
  }
  return st;
}

// Block-wide merge of per-thread states; every thread gets the result. blockDim.x <= 1024, multiple of 32.
// Warp butterflies (shuffles, no shared memory), one partial per warp in shared memory (2 x 32 floats), then
// every warp merges the partials itself, so no broadcast round is needed; two __syncthreads in all.
__device__ LseState lse_block_reduce(LseState st) {
  __shared__ float sm[32], ss[32];
  st = lse_warp_reduce(st);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) { sm[warp] = st.m; ss[warp] = st.s; }
  __syncthreads();
  st = lane < nwarps ? LseState{sm[lane], ss[lane]} : LseState{-INFINITY, 0.f};
  st = lse_warp_reduce(st);
  __syncthreads();  // sm / ss may be reused by a later reduction
  return st;
}
