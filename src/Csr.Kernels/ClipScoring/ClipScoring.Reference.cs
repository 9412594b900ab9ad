using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class ClipScoring
{
    private static Tensor Normalise(Tensor x) =>
        nn.functional.normalize(x.to(ScalarType.Float32), p: 2, dim: -1, eps: NormEps);

    /// <summary>normalise, gather each sentence's image, dot, scale, clamp.</summary>
    public static Tensor PairScoresReference(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero)
    {
        CheckShapes(imageEmb, sentenceEmb, imageIndex);
        using var scope = NewDisposeScope();
        var img = Normalise(imageEmb).index_select(0, imageIndex.to(ScalarType.Int64)); // [S, D]
        var sent = Normalise(sentenceEmb);                                             // [S, D]
        var s = (img * sent).sum(-1) * scale;                                          // [S]
        if (clampAtZero) s = s.clamp_min(0);
        return s.MoveToOuterDisposeScope();
    }

    /// <summary>normalise both, matmul, scale, clamp.</summary>
    public static Tensor MatrixReference(Tensor imageEmb, Tensor sentenceEmb, double scale, bool clampAtZero)
    {
        CheckShapes(imageEmb, sentenceEmb, null);
        using var scope = NewDisposeScope();
        var m = Normalise(imageEmb).mm(Normalise(sentenceEmb).t()) * scale;             // [I, S]
        if (clampAtZero) m = m.clamp_min(0);
        return m.MoveToOuterDisposeScope();
    }

    /// <summary>Per distinct parent: stable descending sort of its sentences' scores, rank = (i+1)/n.</summary>
    public static Tensor SiblingRanksReference(Tensor scores, Tensor parent)
    {
        CheckRanksShapes(scores, parent);
        using var scope = NewDisposeScope();
        var p = parent.to(ScalarType.Int64);
        var sc = scores.to(ScalarType.Float32);
        var ranks = zeros(scores.shape[0], dtype: ScalarType.Float32);
        foreach (var id in p.unique().Item1.data<long>().ToArray())
        {
            var members = p.eq(id).nonzero().squeeze(1);                              // [n], ascending index
            var (_, order) = sc.index_select(0, members).sort(0, descending: true, stable: true);
            long n = members.shape[0];
            var r = arange(1, n + 1, dtype: ScalarType.Float32) / n;                 // (i+1)/n
            ranks.index_put_(r, members.index_select(0, order));
        }
        return ranks.MoveToOuterDisposeScope();
    }
}
