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

    /// <summary>
    /// Lexicographic stable sort by (parent, score descending, index) with two stable sorts, then within each
    /// parent's run rank = (position + 1) / run length.
    /// </summary>
    public static Tensor SiblingRanksReference(Tensor scores, Tensor parent)
    {
        CheckRanksShapes(scores, parent);
        using var scope = NewDisposeScope();
        var type = RankType(scores);
        var p = parent.to(ScalarType.Int64);                                            // [S]
        var sc = scores.to(type);                                                       // [S]
        long n = sc.shape[0];
        if (n == 0) return zeros(0, dtype: type).MoveToOuterDisposeScope();
        var (_, byScore) = sc.sort(0, descending: true, stable: true);                 // score desc, index asc
        var (_, byParent) = p.index_select(0, byScore).sort(0, descending: false, stable: true);
        var order = byScore.index_select(0, byParent);                                 // [S] (parent, score desc, index)
        var (_, inverseOrNull, countsOrNull) = unique_consecutive(p.index_select(0, order), return_inverse: true, return_counts: true);
        var inverse = inverseOrNull!;                                                  // [S] run of each sorted position
        var counts = countsOrNull!;                                                    // [P] run lengths
        var starts = counts.cumsum(0) - counts;                                        // [P] first position of each parent's run
        var position = arange(n, dtype: ScalarType.Int64) - starts.index_select(0, inverse); // [S] 0-based within the run
        var rank = (position + 1).to(ScalarType.Float64) / counts.index_select(0, inverse).to(ScalarType.Float64);
        var ranks = zeros(n, dtype: type).index_put_(rank.to(type), order);
        return ranks.MoveToOuterDisposeScope();
    }
}
