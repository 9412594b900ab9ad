using System.Numerics;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class ClipScoring
{
    /// <summary>
    /// Fused pair scores: image inverse norms once ([I]), then per sentence one vectorised pass computing
    /// dot(image, sentence) and |sentence|^2 together; no normalised or gathered copies.
    /// </summary>
    public static unsafe Tensor PairScoresFused(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero)
    {
        var (ni, ns, d) = CheckShapes(imageEmb, sentenceEmb, imageIndex);
        using var img = imageEmb.detach().to(ScalarType.Float32).contiguous();
        using var sent = sentenceEmb.detach().to(ScalarType.Float32).contiguous();
        using var idx = imageIndex.to(ScalarType.Int64).contiguous();
        var outp = empty(ns, dtype: ScalarType.Float32);
        float* ip = TensorMemory.Ptr<float>(img, "imageEmb"), sp = TensorMemory.Ptr<float>(sent, "sentenceEmb"), op = TensorMemory.Ptr<float>(outp, "out");
        long* xp = TensorMemory.Ptr<long>(idx, "imageIndex");
        for (long s = 0; s < ns; s++)
            if (xp[s] < 0 || xp[s] >= ni) throw new ArgumentException($"imageIndex: {xp[s]} at [{s}] is outside [0, {ni}).", nameof(imageIndex));
        var invImg = InverseNorms(ip, ni, (int)d);
        float sc = (float)scale;
        int block = RowMath.BlockRows(ns);
        Parallel.For(0, (ns + block - 1) / block, b =>
        {
            long end = Math.Min(ns, (b + 1) * block);
            for (long s = b * block; s < end; s++)
            {
                long i = xp[s];
                var (dot, ss) = DotAndSquare(ip + i * d, sp + s * d, (int)d);
                float v = sc * (dot * invImg[i] / MathF.Max(MathF.Sqrt(ss), NormEps));
                op[s] = clampAtZero ? MathF.Max(v, 0f) : v;
            }
        });
        return outp;
    }

    /// <summary>Stable ranks in C#: sort indices by (parent, score desc, index), then number each group.</summary>
    public static Tensor SiblingRanksFused(Tensor scores, Tensor parent)
    {
        CheckRanksShapes(scores, parent);
        var type = RankType(scores);
        double[] sc;
        long[] p;
        using (var t = scores.detach().to(type).contiguous())
            sc = type == ScalarType.Float64 ? t.data<double>().ToArray() : Array.ConvertAll(t.data<float>().ToArray(), f => (double)f);
        using (var t = parent.to(ScalarType.Int64).contiguous()) p = t.data<long>().ToArray();
        int n = sc.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) =>
        {
            int c = p[a].CompareTo(p[b]);
            if (c != 0) return c;
            c = sc[b].CompareTo(sc[a]);                                              // descending
            return c != 0 ? c : a.CompareTo(b);                                      // stable
        });
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end < n && p[order[end]] == p[order[start]]) end++;
            int count = end - start;
            for (int j = start; j < end; j++) ranks[order[j]] = (double)(j - start + 1) / count;
            start = end;
        }
        return type == ScalarType.Float64 ? tensor(ranks) : tensor(Array.ConvertAll(ranks, r => (float)r));
    }

    private static unsafe float[] InverseNorms(float* x, long rows, int d)
    {
        var inv = new float[rows];
        Parallel.For(0, rows, r =>
        {
            var (_, ss) = DotAndSquare(x + r * d, x + r * d, d);
            inv[r] = 1f / MathF.Max(MathF.Sqrt(ss), NormEps);
        });
        return inv;
    }

    /// <summary>(sum a*b, sum b*b) in one vectorised pass.</summary>
    private static unsafe (float Dot, float SquareB) DotAndSquare(float* a, float* b, int d)
    {
        int w = Vector<float>.Count, i = 0;
        var vd = Vector<float>.Zero;
        var vs = Vector<float>.Zero;
        for (; i + w <= d; i += w)
        {
            var vb = Unsafe.ReadUnaligned<Vector<float>>(b + i);
            vd += Unsafe.ReadUnaligned<Vector<float>>(a + i) * vb;
            vs += vb * vb;
        }
        float dot = Vector.Sum(vd), sq = Vector.Sum(vs);
        for (; i < d; i++) { dot += a[i] * b[i]; sq += b[i] * b[i]; }
        return (dot, sq);
    }
}
