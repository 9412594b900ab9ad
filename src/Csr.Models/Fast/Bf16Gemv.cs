using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Fast;

/// <summary>
/// <c>y = x W^T</c> for bf16 weights <c>W [N, K]</c> and a few rows of x (decode: 1 token per beam), streaming W once
/// with fp32 accumulation. libtorch's CPU bf16 GEMV is several times slower than its fp32 one here, which made bf16
/// decode slower than fp32; this keeps decode bound by weight bandwidth. Two bf16 packed in a uint32: the high one is
/// <c>u &amp; 0xFFFF0000</c> as fp32, the low one <c>u &lt;&lt; 16</c>, so x is split into even/odd halves once per call.
/// The inner loops run 512 or 256 bits wide (<see cref="Path"/>, the widest the CPU has) and keep four to eight FMA chains
/// in flight so that cores are bound by memory, not FMA latency; one row of x (decode of one sequence) streams four weight
/// rows at once. bf16 x is read and bf16 y written directly (no conversion ops around the kernel).
/// </summary>
public static unsafe class Bf16Gemv
{
    /// <summary>Largest number of rows of x the kernel takes (more rows: use a GEMM).</summary>
    public const int MaxRows = 16;

    private static readonly KernelSwitch Switch = new(enabled: true);

    /// <summary>Enables the kernel inside <c>LoraLinear</c> and the output projection (inference only), process-wide.</summary>
    public static bool Enabled
    {
        get => Switch.Enabled;
        set => Switch.Enabled = value;
    }

    /// <summary>Turns the kernel off for the calling thread until disposed (A/B comparisons that must not affect other threads).</summary>
    public static IDisposable DisableOnThisThread() => Switch.DisableOnThisThread();

    /// <summary>The vector width of the inner loops: 512-bit, 256-bit (AVX2 + FMA on x86) or plain scalar code.</summary>
    public enum Path { Scalar, Vector256, Vector512 }

    [ThreadStatic] private static Path? _pathOverride;

    /// <summary>The paths this CPU runs, narrowest first (the last is the default).</summary>
    public static IReadOnlyList<Path> AvailablePaths { get; } =
        new[] { Path.Scalar, Path.Vector256, Path.Vector512 }.Where(IsAvailable).ToArray();

    /// <summary>Whether this CPU runs <paramref name="path"/>.</summary>
    public static bool IsAvailable(Path path) => path switch
    {
        Path.Vector512 => Vector512.IsHardwareAccelerated,
        Path.Vector256 => Vector256.IsHardwareAccelerated,
        _ => true,
    };

    /// <summary>The path the kernel takes on the calling thread: the widest available unless <see cref="UsePath"/> chose one.</summary>
    public static Path CurrentPath => _pathOverride ?? AvailablePaths[^1];

    /// <summary>Runs the kernel on <paramref name="path"/> on the calling thread until disposed (tests and benchmarks of each path).</summary>
    public static IDisposable UsePath(Path path)
    {
        if (!IsAvailable(path)) throw new ArgumentException($"Bf16Gemv: this CPU has no {path} path (available: {string.Join(", ", AvailablePaths)})");
        var previous = _pathOverride;
        _pathOverride = path;
        return new RestorePath(previous);
    }

    private sealed class RestorePath(Path? previous) : IDisposable
    {
        public void Dispose() => _pathOverride = previous;
    }

    /// <summary>x <c>[..., K]</c> (any float dtype), W <c>[N, K]</c> bf16 contiguous → <c>[..., N]</c> in x's dtype.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        long n = weight.shape[0], k = weight.shape[1];
        if (weight.dtype != ScalarType.BFloat16 || !weight.is_contiguous())
            throw new ArgumentException("Bf16Gemv: weight must be a contiguous bf16 [N, K] tensor");
        if (x.shape[^1] != k) throw new ArgumentException($"Bf16Gemv: x last dim {x.shape[^1]} != K {k}");
        long m = x.numel() / k;
        if (m > MaxRows) throw new ArgumentException($"Bf16Gemv: at most {MaxRows} rows, got {m}");
        var shape = x.shape.ToArray();
        shape[^1] = n;
        if (x.dtype == ScalarType.BFloat16 && x.is_contiguous() && bias is null)
        {
            // bf16 in, bf16 out (decode in bf16): x is read and y written here, with no conversion ops around the kernel
            var yb = torch.empty(shape, dtype: ScalarType.BFloat16);
            var yf = ArrayPool<float>.Shared.Rent((int)(m * n));
            try
            {
                fixed (float* yp = yf)
                {
                    RunBf16X((ushort*)TensorMemory.DataPtr<BFloat16>(weight), (int)n, (int)k, (ushort*)TensorMemory.DataPtr<BFloat16>(x), (int)m, yp);
                    ushort* dst = (ushort*)TensorMemory.DataPtr<BFloat16>(yb);
                    for (long i = 0; i < m * n; i++) dst[i] = RoundToBf16(yp[i]);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(yf);
            }
            GC.KeepAlive(x); GC.KeepAlive(weight); // raw pointers were read: keep their tensors alive until here
            return yb;
        }
        using var scope = torch.NewDisposeScope();
        var xf = x.reshape(m, k).to_type(ScalarType.Float32).contiguous();
        var y = torch.empty(new[] { m, n }, dtype: ScalarType.Float32);
        Run((ushort*)TensorMemory.DataPtr<BFloat16>(weight), (int)n, (int)k, (float*)TensorMemory.DataPtr<float>(xf), (int)m,
            (float*)TensorMemory.DataPtr<float>(y));
        GC.KeepAlive(weight);
        var outp = y.to_type(x.dtype).reshape(shape);
        if (bias is not null) outp = outp + bias;
        return outp.MoveToOuterDisposeScope();
    }

    /// <summary>fp32 to bf16 bits, rounding to nearest even as libtorch's conversion does (NaN stays a quiet NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort RoundToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return 0x7FC0;
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <summary><see cref="Run"/> with x as bf16 bits (widened to fp32 exactly).</summary>
    public static void RunBf16X(ushort* w, int n, int k, ushort* x, int m, float* y)
    {
        var xf = ArrayPool<float>.Shared.Rent(m * k);
        try
        {
            fixed (float* xp = xf)
            {
                for (long i = 0; i < (long)m * k; i++) xp[i] = BitConverter.Int32BitsToSingle(x[i] << 16);
                Run(w, n, k, xp, m, y);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xf);
        }
    }

    /// <summary>y[m, n] = sum_k W[n, k] x[m, k]; W bf16 bits row-major, x and y fp32 row-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ushort* w, int n, int k, float* x, int m, float* y)
    {
        int half = k / 2;
        // de-interleave x into even / odd halves: xs[(r * 2 + 0) * ld + i] = x[r, 2i], xs[(r * 2 + 1) * ld + i] = x[r, 2i+1]
        // the half-rows are ld = half + 16 floats apart: 2 KiB-aligned streams would share L1 sets and thrash
        int ld = half + 16;
        var xs = ArrayPool<float>.Shared.Rent(m * 2 * ld);
        try
        {
            for (int r = 0; r < m; r++)
                for (int i = 0; i < half; i++)
                {
                    xs[(r * 2) * ld + i] = x[(long)r * k + 2 * i];
                    xs[(r * 2 + 1) * ld + i] = x[(long)r * k + 2 * i + 1];
                }
            var path = CurrentPath; // the worker threads do not see the caller's thread-static choice
            int threads = Math.Max(1, Math.Min(Environment.ProcessorCount, torch.get_num_threads()));
            int chunks = n < 256 ? 1 : threads * 4;
            int per = (n + chunks - 1) / chunks;
            var wp = (IntPtr)w; var xp = (IntPtr)x; var yp = (IntPtr)y;
            void Body(int c)
            {
                int n0 = c * per, n1 = Math.Min(n, n0 + per);
                fixed (float* xsp = xs)
                {
                    int row = n0;
                    if (m == 1 && path != Path.Scalar && (half & 15) == 0 && (k & 1) == 0)
                        for (; row + 4 <= n1; row += 4)
                            FourRowsOneX(path, (uint*)((ushort*)wp + (long)row * k), k / 2, half, xsp, xsp + ld, (float*)yp + row);
                    for (; row < n1; row++)
                        RowDot(path, (ushort*)wp + (long)row * k, k, half, ld, xsp, (float*)xp, m, (float*)yp, n, row);
                }
            }
            if (chunks == 1) Body(0);
            else Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Body);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
        }
    }

    /// <summary>Four consecutive weight rows against one row of x (decode of one sequence): four weight streams in flight,
    /// eight FMA chains, and each load of x shared by four rows. <paramref name="stride"/> is the row length in packed
    /// pairs; <paramref name="half"/> a multiple of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourRowsOneX(Path path, uint* w, int stride, int half, float* xe, float* xo, float* y)
    {
        uint* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        if (path == Path.Vector512)
        {
            var mask = Vector512.Create(0xFFFF0000u);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int i = 0; i < half; i += 16)
            {
                var e = Vector512.Load(xe + i);
                var o = Vector512.Load(xo + i);
                var u0 = Vector512.Load(w + i);
                var u1 = Vector512.Load(w1 + i);
                var u2 = Vector512.Load(w2 + i);
                var u3 = Vector512.Load(w3 + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u0, 16).AsSingle(), e, a0);
                b0 = Vector512.FusedMultiplyAdd((u0 & mask).AsSingle(), o, b0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u1, 16).AsSingle(), e, a1);
                b1 = Vector512.FusedMultiplyAdd((u1 & mask).AsSingle(), o, b1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u2, 16).AsSingle(), e, a2);
                b2 = Vector512.FusedMultiplyAdd((u2 & mask).AsSingle(), o, b2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u3, 16).AsSingle(), e, a3);
                b3 = Vector512.FusedMultiplyAdd((u3 & mask).AsSingle(), o, b3);
            }
            y[0] = Vector512.Sum(a0 + b0);
            y[1] = Vector512.Sum(a1 + b1);
            y[2] = Vector512.Sum(a2 + b2);
            y[3] = Vector512.Sum(a3 + b3);
        }
        else
        {
            var mask = Vector256.Create(0xFFFF0000u);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int i = 0; i < half; i += 8)
            {
                var e = Vector256.Load(xe + i);
                var o = Vector256.Load(xo + i);
                var u0 = Vector256.Load(w + i);
                var u1 = Vector256.Load(w1 + i);
                var u2 = Vector256.Load(w2 + i);
                var u3 = Vector256.Load(w3 + i);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u0, 16).AsSingle(), e, a0);
                b0 = Vector256.FusedMultiplyAdd((u0 & mask).AsSingle(), o, b0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u1, 16).AsSingle(), e, a1);
                b1 = Vector256.FusedMultiplyAdd((u1 & mask).AsSingle(), o, b1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u2, 16).AsSingle(), e, a2);
                b2 = Vector256.FusedMultiplyAdd((u2 & mask).AsSingle(), o, b2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u3, 16).AsSingle(), e, a3);
                b3 = Vector256.FusedMultiplyAdd((u3 & mask).AsSingle(), o, b3);
            }
            y[0] = Vector256.Sum(a0 + b0);
            y[1] = Vector256.Sum(a1 + b1);
            y[2] = Vector256.Sum(a2 + b2);
            y[3] = Vector256.Sum(a3 + b3);
        }
    }

    /// <summary>One weight row against all rows of x: groups of 4 rows share each weight load, then single rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDot(Path path, ushort* wrow, int k, int half, int ld, float* xs, float* x, int m, float* y, int n, int row)
    {
        int r = 0;
        for (; r + 4 <= m; r += 4)
        {
            Dot4(path, wrow, k, half, ld, xs, x, r, out float a0, out float a1, out float a2, out float a3);
            y[(long)r * n + row] = a0;
            y[(long)(r + 1) * n + row] = a1;
            y[(long)(r + 2) * n + row] = a2;
            y[(long)(r + 3) * n + row] = a3;
        }
        for (; r < m; r++) y[(long)r * n + row] = Dot1(path, wrow, k, half, ld, xs, x, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    private static float Dot1(Path path, ushort* wrow, int k, int half, int ld, float* xs, float* x, int r)
    {
        uint* packed = (uint*)wrow;
        float* xe = xs + (r * 2) * ld, xo = xs + (r * 2 + 1) * ld;
        int i = 0;
        float acc = 0;
        if (path == Path.Vector512)
        {
            var mask = Vector512.Create(0xFFFF0000u);
            Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default;
            for (; i + 32 <= half; i += 32)
            {
                var u0 = Vector512.Load(packed + i);
                var u1 = Vector512.Load(packed + i + 16);
                a0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u0, 16).AsSingle(), Vector512.Load(xe + i), a0);
                b0 = Vector512.FusedMultiplyAdd((u0 & mask).AsSingle(), Vector512.Load(xo + i), b0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u1, 16).AsSingle(), Vector512.Load(xe + i + 16), a1);
                b1 = Vector512.FusedMultiplyAdd((u1 & mask).AsSingle(), Vector512.Load(xo + i + 16), b1);
            }
            for (; i + 16 <= half; i += 16)
            {
                var u = Vector512.Load(packed + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(u, 16).AsSingle(), Vector512.Load(xe + i), a0);
                b0 = Vector512.FusedMultiplyAdd((u & mask).AsSingle(), Vector512.Load(xo + i), b0);
            }
            acc = Vector512.Sum((a0 + a1) + (b0 + b1));
        }
        else if (path == Path.Vector256)
        {
            // four independent FMA chains (two 8-wide weight loads per iteration): with two, each iteration waits on
            // the FMA latency and one core streams less than half of what its loads could
            var mask = Vector256.Create(0xFFFF0000u);
            Vector256<float> a0 = default, b0 = default, a1 = default, b1 = default;
            for (; i + 16 <= half; i += 16)
            {
                var u0 = Vector256.Load(packed + i);
                var u1 = Vector256.Load(packed + i + 8);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u0, 16).AsSingle(), Vector256.Load(xe + i), a0);
                b0 = Vector256.FusedMultiplyAdd((u0 & mask).AsSingle(), Vector256.Load(xo + i), b0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u1, 16).AsSingle(), Vector256.Load(xe + i + 8), a1);
                b1 = Vector256.FusedMultiplyAdd((u1 & mask).AsSingle(), Vector256.Load(xo + i + 8), b1);
            }
            for (; i + 8 <= half; i += 8)
            {
                var u = Vector256.Load(packed + i);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u, 16).AsSingle(), Vector256.Load(xe + i), a0);
                b0 = Vector256.FusedMultiplyAdd((u & mask).AsSingle(), Vector256.Load(xo + i), b0);
            }
            acc = Vector256.Sum((a0 + a1) + (b0 + b1));
        }
        for (; i < half; i++)
            acc += BitConverter.Int32BitsToSingle((int)(packed[i] << 16)) * xe[i] + BitConverter.Int32BitsToSingle((int)(packed[i] & 0xFFFF0000u)) * xo[i];
        if ((k & 1) == 1) acc += BitConverter.Int32BitsToSingle(wrow[k - 1] << 16) * x[(long)r * k + k - 1];
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    private static void Dot4(Path path, ushort* wrow, int k, int half, int ld, float* xs, float* x, int r, out float o0, out float o1, out float o2, out float o3)
    {
        uint* packed = (uint*)wrow;
        float* e0 = xs + (r * 2) * ld, d0 = e0 + ld;
        float* e1 = d0 + ld, d1 = e1 + ld;
        float* e2 = d1 + ld, d2 = e2 + ld;
        float* e3 = d2 + ld, d3 = e3 + ld;
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (path == Path.Vector512)
        {
            var mask = Vector512.Create(0xFFFF0000u);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (; i + 16 <= half; i += 16)
            {
                var u = Vector512.Load(packed + i);
                var ev = Vector512.ShiftLeft(u, 16).AsSingle();
                var od = (u & mask).AsSingle();
                a0 = Vector512.FusedMultiplyAdd(ev, Vector512.Load(e0 + i), a0);
                b0 = Vector512.FusedMultiplyAdd(od, Vector512.Load(d0 + i), b0);
                a1 = Vector512.FusedMultiplyAdd(ev, Vector512.Load(e1 + i), a1);
                b1 = Vector512.FusedMultiplyAdd(od, Vector512.Load(d1 + i), b1);
                a2 = Vector512.FusedMultiplyAdd(ev, Vector512.Load(e2 + i), a2);
                b2 = Vector512.FusedMultiplyAdd(od, Vector512.Load(d2 + i), b2);
                a3 = Vector512.FusedMultiplyAdd(ev, Vector512.Load(e3 + i), a3);
                b3 = Vector512.FusedMultiplyAdd(od, Vector512.Load(d3 + i), b3);
            }
            s0 = Vector512.Sum(a0 + b0); s1 = Vector512.Sum(a1 + b1); s2 = Vector512.Sum(a2 + b2); s3 = Vector512.Sum(a3 + b3);
        }
        else if (path == Path.Vector256)
        {
            // even and odd halves in separate accumulators: eight independent FMA chains instead of four chains of two
            var mask = Vector256.Create(0xFFFF0000u);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (; i + 8 <= half; i += 8)
            {
                var u = Vector256.Load(packed + i);
                var ev = Vector256.ShiftLeft(u, 16).AsSingle();
                var od = (u & mask).AsSingle();
                a0 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e0 + i), a0);
                b0 = Vector256.FusedMultiplyAdd(od, Vector256.Load(d0 + i), b0);
                a1 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e1 + i), a1);
                b1 = Vector256.FusedMultiplyAdd(od, Vector256.Load(d1 + i), b1);
                a2 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e2 + i), a2);
                b2 = Vector256.FusedMultiplyAdd(od, Vector256.Load(d2 + i), b2);
                a3 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e3 + i), a3);
                b3 = Vector256.FusedMultiplyAdd(od, Vector256.Load(d3 + i), b3);
            }
            s0 = Vector256.Sum(a0 + b0); s1 = Vector256.Sum(a1 + b1); s2 = Vector256.Sum(a2 + b2); s3 = Vector256.Sum(a3 + b3);
        }
        for (; i < half; i++)
        {
            float ev = BitConverter.Int32BitsToSingle((int)(packed[i] << 16));
            float od = BitConverter.Int32BitsToSingle((int)(packed[i] & 0xFFFF0000u));
            s0 += ev * e0[i] + od * d0[i];
            s1 += ev * e1[i] + od * d1[i];
            s2 += ev * e2[i] + od * d2[i];
            s3 += ev * e3[i] + od * d3[i];
        }
        if ((k & 1) == 1)
        {
            float last = BitConverter.Int32BitsToSingle(wrow[k - 1] << 16);
            s0 += last * x[(long)r * k + k - 1];
            s1 += last * x[(long)(r + 1) * k + k - 1];
            s2 += last * x[(long)(r + 2) * k + k - 1];
            s3 += last * x[(long)(r + 3) * k + k - 1];
        }
        o0 = s0; o1 = s1; o2 = s2; o3 = s3;
    }
}
