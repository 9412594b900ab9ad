// CLIP pair scores over image embeddings [I, D] and sentence embeddings [S, D] (float32 or bf16), one score per
// sentence against the image it belongs to. Mirrors src/Csr.Kernels/ClipScoring/ClipScoring.Fused.cs (the CPU
// version) and ClipScoring.Ilgpu.cs.
//
// clip_pair_{f32,bf16}: grid = S, block = 128 threads, no dynamic shared memory.
//   out[s] = scale * dot(img[idx[s]], sent[s]) / (max(|img[idx[s]]|, 1e-12) * max(|sent[s]|, 1e-12)),
//   clamped at 0 when clamp != 0 (the paper's R_I = max(100 cos, 0)).
//   One block per sentence. Threads stride over the D dims with 16-byte vector loads of both rows (4 float32 or
//   8 bf16 per load, consecutive per warp) when both rows are 16-byte aligned and D a multiple of the vector
//   width (CLIP's D = 768 is), else scalar strided loads; each thread keeps three float32 partial sums (the dot
//   and both squared norms). The three sums are reduced with warp xor-shuffles, one partial per warp in shared
//   memory (3 x 32 floats static), and a last butterfly in warp 0; thread 0 writes the score.
//   idx[s] must lie in [0, I) (the C# launcher checks it on the device before the launch).
//   Bytes per sentence: 2 * D * sizeof(element) read (the image row is shared by the image's sentences and
//   mostly served from L2) + 8 (index) + 4 written.
//
// Achieved bandwidth: GB/s = S * (2 * D * sizeof(element) + 12) / kernel time; eng/gpu/ptx_check.py times it
// against PyTorch eager (normalize, index_select, multiply, sum) and states the fraction of the HBM peak.
#include "common.cuh"

#define CLIP_THREADS 128

struct Sum3 { float dot; float ii; float ss; };

__device__ __forceinline__ Sum3 sum3_warp(Sum3 a) {
  for (int off = 16; off > 0; off >>= 1) {
    a.dot += __shfl_xor_sync(0xffffffffu, a.dot, off);
    a.ii += __shfl_xor_sync(0xffffffffu, a.ii, off);
    a.ss += __shfl_xor_sync(0xffffffffu, a.ss, off);
  }
  return a;
}

// Block-wide sum of the three partials; the result is valid in warp 0. blockDim.x a multiple of 32, <= 1024.
__device__ __forceinline__ Sum3 sum3_block(Sum3 a) {
  __shared__ float sd[32], si[32], ss[32];
  a = sum3_warp(a);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) { sd[warp] = a.dot; si[warp] = a.ii; ss[warp] = a.ss; }
  __syncthreads();
  if (warp == 0) {
    a = lane < nwarps ? Sum3{sd[lane], si[lane], ss[lane]} : Sum3{0.f, 0.f, 0.f};
    a = sum3_warp(a);
  }
  return a;
}

__device__ __forceinline__ void acc(Sum3& a, float x, float y) {
  a.dot = fmaf(x, y, a.dot);
  a.ii = fmaf(x, x, a.ii);
  a.ss = fmaf(y, y, a.ss);
}

__device__ __forceinline__ Sum3 row_sums(const float* __restrict__ img, const float* __restrict__ sent, int d) {
  Sum3 a{0.f, 0.f, 0.f};
  if ((d & 3) == 0 && aligned16(img) && aligned16(sent)) {
    const float4* i4 = reinterpret_cast<const float4*>(img);
    const float4* s4 = reinterpret_cast<const float4*>(sent);
    for (int j = threadIdx.x; j < (d >> 2); j += blockDim.x) {
      float4 p = __ldg(i4 + j), q = __ldg(s4 + j);
      acc(a, p.x, q.x); acc(a, p.y, q.y); acc(a, p.z, q.z); acc(a, p.w, q.w);
    }
  } else {
    for (int i = threadIdx.x; i < d; i += blockDim.x) acc(a, __ldg(img + i), __ldg(sent + i));
  }
  return a;
}

__device__ __forceinline__ void acc_bf16x2(Sum3& a, unsigned int p, unsigned int q) {
  acc(a, __uint_as_float(p << 16), __uint_as_float(q << 16));
  acc(a, __uint_as_float(p & 0xffff0000u), __uint_as_float(q & 0xffff0000u));
}

__device__ __forceinline__ Sum3 row_sums(const unsigned short* __restrict__ img, const unsigned short* __restrict__ sent, int d) {
  Sum3 a{0.f, 0.f, 0.f};
  if ((d & 7) == 0 && aligned16(img) && aligned16(sent)) {
    const uint4* i8 = reinterpret_cast<const uint4*>(img);
    const uint4* s8 = reinterpret_cast<const uint4*>(sent);
    for (int j = threadIdx.x; j < (d >> 3); j += blockDim.x) {
      uint4 p = __ldg(i8 + j), q = __ldg(s8 + j);
      acc_bf16x2(a, p.x, q.x); acc_bf16x2(a, p.y, q.y); acc_bf16x2(a, p.z, q.z); acc_bf16x2(a, p.w, q.w);
    }
  } else {
    for (int i = threadIdx.x; i < d; i += blockDim.x) acc(a, bf16_to_float(__ldg(img + i)), bf16_to_float(__ldg(sent + i)));
  }
  return a;
}

template <typename T>
__device__ void clip_pair(const T* __restrict__ img, const T* __restrict__ sent, const long long* __restrict__ idx,
                          float* __restrict__ out, int s_count, int d, float scale, int clamp) {
  int s = blockIdx.x;
  if (s >= s_count) return;
  Sum3 a = row_sums(img + idx[s] * (long long)d, sent + (long long)s * d, d);
  a = sum3_block(a);
  if (threadIdx.x == 0) {
    float v = scale * (a.dot / fmaxf(sqrtf(a.ii), 1e-12f) / fmaxf(sqrtf(a.ss), 1e-12f));
    out[s] = clamp ? fmaxf(v, 0.f) : v;
  }
}

extern "C" __global__ void __launch_bounds__(CLIP_THREADS)
clip_pair_f32(const float* img, const float* sent, const long long* idx, float* out, int s_count, int d, float scale, int clamp) {
  clip_pair(img, sent, idx, out, s_count, d, scale, clamp);
}

extern "C" __global__ void __launch_bounds__(CLIP_THREADS)
clip_pair_bf16(const unsigned short* img, const unsigned short* sent, const long long* idx, float* out, int s_count, int d,
               float scale, int clamp) {
  clip_pair(img, sent, idx, out, s_count, d, scale, clamp);
}
