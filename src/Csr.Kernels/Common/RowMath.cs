using System.Numerics;
using System.Runtime.CompilerServices;

namespace Csr.Kernels;

/// <summary>Vectorised row primitives over float memory (System.Numerics.Vector).</summary>
internal static unsafe class RowMath
{
    /// <summary>Maximum of x[0..n) (-inf for n = 0; NaN-oblivious).</summary>
    public static float Max(float* x, int n)
    {
        int w = Vector<float>.Count, i = 0;
        float m = float.NegativeInfinity;
        if (n >= w)
        {
            var vm = new Vector<float>(float.NegativeInfinity);
            for (; i + w <= n; i += w) vm = Vector.Max(vm, Unsafe.ReadUnaligned<Vector<float>>(x + i));
            for (int j = 0; j < w; j++) m = MathF.Max(m, vm[j]);
        }
        for (; i < n; i++) m = MathF.Max(m, x[i]);
        return m;
    }

    /// <summary>sum_i exp(x[i] - shift).</summary>
    public static float SumExp(float* x, int n, float shift)
    {
        int w = Vector<float>.Count, i = 0;
        var vs = Vector<float>.Zero;
        var vshift = new Vector<float>(shift);
        for (; i + w <= n; i += w) vs += Vector.Exp(Unsafe.ReadUnaligned<Vector<float>>(x + i) - vshift);
        float s = Vector.Sum(vs);
        for (; i < n; i++) s += MathF.Exp(x[i] - shift);
        return s;
    }

    /// <summary>y[i] = exp(x[i] - shift) * scale.</summary>
    public static void ExpScale(float* x, float* y, int n, float shift, float scale)
    {
        int w = Vector<float>.Count, i = 0;
        var vshift = new Vector<float>(shift);
        var vscale = new Vector<float>(scale);
        for (; i + w <= n; i += w)
            Unsafe.WriteUnaligned(y + i, Vector.Exp(Unsafe.ReadUnaligned<Vector<float>>(x + i) - vshift) * vscale);
        for (; i < n; i++) y[i] = MathF.Exp(x[i] - shift) * scale;
    }

    /// <summary>
    /// Online logsumexp state over chunks: after each chunk, the running max m and the sum s of exp(x - m).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate(float* chunk, int n, ref float m, ref float s)
    {
        float cm = Max(chunk, n);
        if (cm > m)
        {
            s = m == float.NegativeInfinity ? 0f : s * MathF.Exp(m - cm);
            m = cm;
        }
        if (m == float.NegativeInfinity) return;
        s += SumExp(chunk, n, m);
    }

    /// <summary>sum_i exp((double)x[i] - shift), accumulated in float64.</summary>
    public static double SumExp64(float* x, int n, float shift)
    {
        int w = Vector<float>.Count, i = 0;
        var vs = Vector<double>.Zero;
        var vshift = new Vector<double>(shift);
        for (; i + w <= n; i += w)
        {
            Vector.Widen(Unsafe.ReadUnaligned<Vector<float>>(x + i), out Vector<double> lo, out Vector<double> hi);
            vs += ExpNonPositive(lo - vshift) + ExpNonPositive(hi - vshift);
        }
        double s = Vector.Sum(vs);
        for (; i < n; i++) s += Math.Exp((double)x[i] - shift);
        return s;
    }

    /// <summary>
    /// exp(d) for d &lt;= 0 in float64 (relative error below 1e-14; d below -708 is taken as -708): Cody-Waite
    /// reduction d = k ln2 + r, |r| &lt;= ln2 / 2, a degree-11 Taylor polynomial for exp(r), and 2^k built in the
    /// exponent bits from the rounding constant's mantissa (integer add and shift only: no float-to-int conversion,
    /// which AVX2 lacks for 64-bit lanes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> ExpNonPositive(Vector<double> d)
    {
        const double Log2E = 1.4426950408889634, Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
        const double Round = 6755399441055744.0; // 1.5 * 2^52: k + Round holds the integer k in its low mantissa bits
        d = Vector.Max(d, new Vector<double>(-708.0));
        var kr = d * Log2E + new Vector<double>(Round);
        var k = kr - new Vector<double>(Round);
        var r = (d - k * Ln2Hi) - k * Ln2Lo;
        var p = new Vector<double>(1.0 / 39916800);                     // 1/11!
        p = p * r + new Vector<double>(1.0 / 3628800);
        p = p * r + new Vector<double>(1.0 / 362880);
        p = p * r + new Vector<double>(1.0 / 40320);
        p = p * r + new Vector<double>(1.0 / 5040);
        p = p * r + new Vector<double>(1.0 / 720);
        p = p * r + new Vector<double>(1.0 / 120);
        p = p * r + new Vector<double>(1.0 / 24);
        p = p * r + new Vector<double>(1.0 / 6);
        p = p * r + new Vector<double>(0.5);
        p = p * r + Vector<double>.One;
        p = p * r + Vector<double>.One;
        var bits = Vector.AsVectorInt64(kr) - new Vector<long>(BitConverter.DoubleToInt64Bits(Round)) + new Vector<long>(1023);
        return p * Vector.AsVectorDouble(Vector.ShiftLeft(bits, 52)); // p * 2^k
    }

    /// <summary>logsumexp of a float32 row, online over chunks of <paramref name="chunk"/>.</summary>
    public static float LogSumExp(float* x, int n, int chunk)
    {
        float m = float.NegativeInfinity, s = 0f;
        for (int c = 0; c < n; c += chunk) Accumulate(x + c, Math.Min(chunk, n - c), ref m, ref s);
        return m + MathF.Log(s);
    }

    /// <summary>logsumexp of a bf16 row; each chunk is widened into <paramref name="scratch"/> (chunk floats).</summary>
    public static float LogSumExp(ushort* x, int n, int chunk, float* scratch)
    {
        float m = float.NegativeInfinity, s = 0f;
        for (int c = 0; c < n; c += chunk)
        {
            int len = Math.Min(chunk, n - c);
            Bf16.ToFloat(x + c, scratch, len);
            Accumulate(scratch, len, ref m, ref s);
        }
        return m + MathF.Log(s);
    }

    /// <summary>Rows split into blocks for Parallel.For: about 4 blocks per core, at least 1 row each.</summary>
    public static int BlockRows(long rows) =>
        (int)Math.Max(1, Math.Min(64, rows / (4L * Environment.ProcessorCount)));
}
