using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace Csr.Kernels;

public sealed unsafe partial class BeamStepRows
{
    /// <summary>The vector width of the fused CPU pass, picked once from what the CPU has.</summary>
    internal enum CpuWidth
    {
        /// <summary><see cref="Vector{T}"/> code (any CPU: SSE, NEON, ...).</summary>
        Portable = 0,
        /// <summary><see cref="Vector256{T}"/> with fused multiply-add (x64 AVX2 + FMA).</summary>
        V256 = 256,
        /// <summary><see cref="Vector512{T}"/> (AVX-512F).</summary>
        V512 = 512,
    }

    /// <summary>The widest accelerated width: 512 with AVX-512, 256 with AVX2 + FMA, else portable.</summary>
    internal static readonly CpuWidth BestWidth =
        Vector512.IsHardwareAccelerated ? CpuWidth.V512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? CpuWidth.V256
        : CpuWidth.Portable;

    /// <summary>Chunk of the fused row pass (floats; fits L1 with the bf16 scratch).</summary>
    internal const int Chunk = 2048;

    /// <summary>Logits (rows x vocabulary) below which the rows are scanned on the calling thread: a few microseconds of
    /// work, less than a <c>Parallel.For</c> costs.</summary>
    internal const long SequentialBelow = 1 << 15;

    /// <summary>
    /// Fused CPU pass. Each row is cut into column segments so that there are a few tasks per core even for
    /// 5 rows; a task scans its segment in L1-sized chunks: one vector pass keeps the chunk max and the
    /// segment's top-K (a whole vector is skipped unless a lane beats the K-th value), a second pass over the
    /// chunk (from L1) adds exp((double)x - m) in float64, rescaling the running sum when the max grows. The
    /// segments of a row then merge: max, sum * exp(m_seg - max) added in float64, and the sorted top-K lists
    /// merged by (value desc, index asc), which keeps exactly the row's top K.
    /// </summary>
    internal static BeamStepRows FromCpu(Tensor logits, int groups, int candidatesPerBeam, int k) =>
        FromCpu(logits, groups, candidatesPerBeam, k, BestWidth);

    /// <summary>The pass at a given width; <paramref name="segmentsPerRow"/> overrides the column segments per row (benchmarks).</summary>
    internal static BeamStepRows FromCpu(Tensor logits, int groups, int candidatesPerBeam, int k, CpuWidth width, int? segmentsPerRow = null)
    {
        var x = logits.detach().contiguous();
        int rows = (int)x.size(0), v = (int)x.size(1);
        var max = new float[rows];
        var logSum = new double[rows];
        var topV = new float[(long)rows * k];
        var topI = new int[(long)rows * k];
        bool bf16 = x.dtype == ScalarType.BFloat16;
        nint xp = bf16 ? (nint)TensorMemory.Ptr<ushort>(x, "logits") : (nint)TensorMemory.Ptr<float>(x, "logits");
        int segs = Math.Clamp(segmentsPerRow ?? SegmentsPerRow(rows, v), 1, Math.Max(1, v / 64));
        int segLen = (v + segs - 1) / segs;
        segLen = (segLen + 63) & ~63;                              // whole vectors and cache lines per segment
        segs = (v + segLen - 1) / segLen;
        if (segs == 1)
        {
            void Row(int r)
            {
                fixed (float* tv = &topV[(long)r * k])
                fixed (int* ti = &topI[(long)r * k])
                {
                    int count = 0;
                    ScanSegment(xp, bf16, (long)r * v, 0, v, tv, ti, ref count, k, width, out max[r], out double s);
                    logSum[r] = Math.Log(s);
                }
            }
            // a few small rows (a small vocabulary) take less time than handing them to the thread pool
            if ((long)rows * v < SequentialBelow) for (int r = 0; r < rows; r++) Row(r);
            else Parallel.For(0, rows, Row);
            return new BeamStepRows(x, groups, candidatesPerBeam, k, max, logSum, topV, topI, KernelPath.Fused);
        }
        int tasks = rows * segs;
        var segMax = new float[tasks];
        var segSum = new double[tasks];
        var segCount = new int[tasks];
        var segV = new float[(long)tasks * k];
        var segI = new int[(long)tasks * k];
        Parallel.For(0, tasks, t =>
        {
            int r = t / segs, start = t % segs * segLen;
            fixed (float* tv = &segV[(long)t * k])
            fixed (int* ti = &segI[(long)t * k])
                ScanSegment(xp, bf16, (long)r * v, start, Math.Min(segLen, v - start), tv, ti, ref segCount[t], k, width,
                    out segMax[t], out segSum[t]);
        });
        for (int r = 0; r < rows; r++)
        {
            int first = r * segs;
            float m = float.NegativeInfinity;
            for (int j = 0; j < segs; j++) m = MathF.Max(m, segMax[first + j]);
            double s = 0;
            if (m != float.NegativeInfinity)
                for (int j = 0; j < segs; j++)
                    if (segMax[first + j] != float.NegativeInfinity) s += segSum[first + j] * Math.Exp((double)segMax[first + j] - m);
            max[r] = m;
            logSum[r] = Math.Log(s);
            MergeTopK(segV, segI, segCount, first, segs, k, topV, topI, (long)r * k);
        }
        return new BeamStepRows(x, groups, candidatesPerBeam, k, max, logSum, topV, topI, KernelPath.Fused);
    }

    /// <summary>Segments per row: about 4 tasks per core in all, each at least one chunk long.</summary>
    private static int SegmentsPerRow(int rows, int v)
    {
        int wanted = (4 * Environment.ProcessorCount + rows - 1) / Math.Max(rows, 1);
        return Math.Max(1, Math.Min(wanted, v / Chunk));
    }

    /// <summary>
    /// Merges the sorted top lists of segments first .. first+segs-1 (segment order = index order) into the
    /// row's K best (value desc, index asc): on equal heads the earlier segment, i.e. the lower index, wins.
    /// </summary>
    private static void MergeTopK(float[] segV, int[] segI, int[] segCount, int first, int segs, int k, float[] topV, int[] topI, long at)
    {
        Span<int> head = stackalloc int[segs];
        for (int n = 0; n < k; n++)
        {
            int best = -1;
            float bv = 0;
            for (int j = 0; j < segs; j++)
            {
                if (head[j] >= segCount[first + j]) continue;
                float hv = segV[(long)(first + j) * k + head[j]];
                if (best < 0 || hv > bv) { best = j; bv = hv; }
            }
            if (best < 0) break;                                   // fewer than K in the row (K <= V, so not reached)
            long src = (long)(first + best) * k + head[best]++;
            topV[at + n] = segV[src];
            topI[at + n] = segI[src];
        }
    }

    /// <summary>One segment [start, start+len) of a row: its max, float64 sum of exp(x - max) and top-K. The bf16 scratch
    /// is written before it is read, so it is not zeroed first (8 KiB per call, more than a small row's scan).</summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    private static void ScanSegment(nint xp, bool bf16, long rowStart, int start, int len, float* tv, int* ti, ref int count, int k,
        CpuWidth width, out float max, out double sum)
    {
        float* scratch = stackalloc float[Chunk];
        float m = float.NegativeInfinity;
        double s = 0;
        for (int c = start; c < start + len; c += Chunk)
        {
            int n = Math.Min(Chunk, start + len - c);
            float* chunk;
            if (bf16) { Bf16.ToFloat((ushort*)xp + rowStart + c, scratch, n); chunk = scratch; }
            else chunk = (float*)xp + rowStart + c;
            float cm = width switch
            {
                CpuWidth.V512 => ScanMaxTopK512(chunk, n, c, tv, ti, ref count, k),
                CpuWidth.V256 => ScanMaxTopK256(chunk, n, c, tv, ti, ref count, k),
                _ => ScanMaxTopKPortable(chunk, n, c, tv, ti, ref count, k),
            };
            if (cm > m)
            {
                s = m == float.NegativeInfinity ? 0 : s * Math.Exp((double)m - cm);
                m = cm;
            }
            if (m == float.NegativeInfinity) continue;
            s += width switch
            {
                CpuWidth.V512 => SumExp512(chunk, n, m),
                CpuWidth.V256 => SumExp256(chunk, n, m),
                _ => RowMath.SumExp64(chunk, n, m),
            };
        }
        max = m;
        sum = s;
    }

    /// <summary>
    /// Keeps the k largest (value desc, index asc) of x[0..n) + offset in tv/ti (sorted; count filled) and returns
    /// max(x[0..n)), <see cref="Vector{T}"/> code.
    /// </summary>
    private static float ScanMaxTopKPortable(float* x, int n, int offset, float* tv, int* ti, ref int count, int k)
    {
        int w = Vector<float>.Count, i = 0;
        var vmax = new Vector<float>(float.NegativeInfinity);
        for (; i + w <= n; i += w)
        {
            var xv = Unsafe.ReadUnaligned<Vector<float>>(x + i);
            vmax = Vector.Max(vmax, xv);
            if (count == k && !Vector.GreaterThanAny(xv, new Vector<float>(tv[k - 1]))) continue;
            for (int j = i; j < i + w; j++) Insert(x[j], offset + j, tv, ti, ref count, k);
        }
        float m = float.NegativeInfinity;
        for (int j = 0; j < w; j++) m = MathF.Max(m, vmax[j]);
        for (; i < n; i++) { m = MathF.Max(m, x[i]); Insert(x[i], offset + i, tv, ti, ref count, k); }
        return m;
    }

    private static float ScanMaxTopK256(float* x, int n, int offset, float* tv, int* ti, ref int count, int k)
    {
        int i = 0;
        var vmax = Vector256.Create(float.NegativeInfinity);
        var vthr = Vector256.Create(count == k ? tv[k - 1] : float.NegativeInfinity);
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(x + i);
            vmax = Vector256.MaxNative(vmax, xv);
            if (count == k && !Vector256.GreaterThanAny(xv, vthr)) continue;
            for (int j = i; j < i + 8; j++) Insert(x[j], offset + j, tv, ti, ref count, k);
            if (count == k) vthr = Vector256.Create(tv[k - 1]);
        }
        float m = HorizontalMax(vmax.GetLower(), vmax.GetUpper());
        for (; i < n; i++) { m = MathF.Max(m, x[i]); Insert(x[i], offset + i, tv, ti, ref count, k); }
        return m;
    }

    private static float ScanMaxTopK512(float* x, int n, int offset, float* tv, int* ti, ref int count, int k)
    {
        int i = 0;
        var vmax = Vector512.Create(float.NegativeInfinity);
        var vthr = Vector512.Create(count == k ? tv[k - 1] : float.NegativeInfinity);
        for (; i + 16 <= n; i += 16)
        {
            var xv = Vector512.Load(x + i);
            vmax = Vector512.MaxNative(vmax, xv);
            if (count == k && !Vector512.GreaterThanAny(xv, vthr)) continue;
            for (int j = i; j < i + 16; j++) Insert(x[j], offset + j, tv, ti, ref count, k);
            if (count == k) vthr = Vector512.Create(tv[k - 1]);
        }
        var half = Vector256.MaxNative(vmax.GetLower(), vmax.GetUpper());
        float m = HorizontalMax(half.GetLower(), half.GetUpper());
        for (; i < n; i++) { m = MathF.Max(m, x[i]); Insert(x[i], offset + i, tv, ti, ref count, k); }
        return m;
    }

    private static float HorizontalMax(Vector128<float> a, Vector128<float> b)
    {
        var q = Vector128.MaxNative(a, b);
        float m = float.NegativeInfinity;
        for (int j = 0; j < 4; j++) m = MathF.Max(m, q.GetElement(j));
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Insert(float xv, int idx, float* tv, int* ti, ref int count, int k)
    {
        if (count == k && !(xv > tv[k - 1])) return;   // indices grow: an equal value never displaces
        int p = count < k ? count : k - 1;
        while (p > 0 && tv[p - 1] < xv) { tv[p] = tv[p - 1]; ti[p] = ti[p - 1]; p--; }
        tv[p] = xv;
        ti[p] = idx;
        if (count < k) count++;
    }

    /// <summary>sum_i exp((double)x[i] - shift) in float64, 8 floats per step (two accumulators).</summary>
    private static double SumExp256(float* x, int n, float shift)
    {
        int i = 0;
        var a0 = Vector256<double>.Zero;
        var a1 = Vector256<double>.Zero;
        var vs = Vector256.Create((double)shift);
        for (; i + 8 <= n; i += 8)
        {
            var xv = Vector256.Load(x + i);
            a0 = ExpAdd(Vector256.WidenLower(xv) - vs, a0);
            a1 = ExpAdd(Vector256.WidenUpper(xv) - vs, a1);
        }
        double s = Vector256.Sum(a0 + a1);
        for (; i < n; i++) s += Math.Exp((double)x[i] - shift);
        return s;
    }

    /// <summary>sum_i exp((double)x[i] - shift) in float64, 16 floats per step (two accumulators).</summary>
    private static double SumExp512(float* x, int n, float shift)
    {
        int i = 0;
        var a0 = Vector512<double>.Zero;
        var a1 = Vector512<double>.Zero;
        var vs = Vector512.Create((double)shift);
        for (; i + 16 <= n; i += 16)
        {
            var xv = Vector512.Load(x + i);
            a0 = ExpAdd(Vector512.WidenLower(xv) - vs, a0);
            a1 = ExpAdd(Vector512.WidenUpper(xv) - vs, a1);
        }
        double s = Vector512.Sum(a0 + a1);
        for (; i < n; i++) s += Math.Exp((double)x[i] - shift);
        return s;
    }

    // exp(d) for d <= 0, as RowMath.ExpNonPositive (Cody-Waite reduction, degree-11 Taylor polynomial, 2^k from
    // the exponent bits), every multiply-add fused and the final scale fused into the accumulation.
    private const double Log2E = 1.4426950408889634, Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
    private const double Round = 6755399441055744.0; // 1.5 * 2^52
    private static readonly long ExponentBias = 1023 - BitConverter.DoubleToInt64Bits(Round);

    /// <summary>acc + exp(d) for d &lt;= 0 (d below -708 is taken as -708), 4 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ExpAdd(Vector256<double> d, Vector256<double> acc)
    {
        d = Vector256.MaxNative(d, Vector256.Create(-708.0));
        var kr = Vector256.FusedMultiplyAdd(d, Vector256.Create(Log2E), Vector256.Create(Round));
        var k = kr - Vector256.Create(Round);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Hi), d);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.Create(1.0 / 39916800);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 3628800));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 362880));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 40320));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 5040));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        var scale = Vector256.ShiftLeft(kr.AsInt64() + Vector256.Create(ExponentBias), 52).AsDouble(); // 2^k
        return Vector256.FusedMultiplyAdd(p, scale, acc);
    }

    /// <summary>acc + exp(d) for d &lt;= 0 (d below -708 is taken as -708), 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ExpAdd(Vector512<double> d, Vector512<double> acc)
    {
        d = Vector512.MaxNative(d, Vector512.Create(-708.0));
        var kr = Vector512.FusedMultiplyAdd(d, Vector512.Create(Log2E), Vector512.Create(Round));
        var k = kr - Vector512.Create(Round);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Hi), d);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.Create(1.0 / 39916800);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 3628800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 362880));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 40320));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 5040));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        var scale = Vector512.ShiftLeft(kr.AsInt64() + Vector512.Create(ExponentBias), 52).AsDouble(); // 2^k
        return Vector512.FusedMultiplyAdd(p, scale, acc);
    }
}
