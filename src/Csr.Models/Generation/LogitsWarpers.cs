using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>HF's sampling warpers on fp32 scores <c>[N, V]</c>; filtered entries become -inf.</summary>
public static class LogitsWarpers
{
    public static Tensor Temperature(Tensor scores, double t) => t == 1.0 ? scores.clone() : scores / t;

    /// <summary>HF TopKLogitsWarper: keeps entries &gt;= the k-th largest.</summary>
    public static Tensor TopK(Tensor scores, int k)
    {
        using var scope = torch.NewDisposeScope();
        k = (int)Math.Min(k, scores.shape[^1]);
        var kth = scores.topk(k, -1).values[.., (k - 1)..k];               // [N, 1]
        return scores.masked_fill(scores.lt(kth), float.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF TopPLogitsWarper: sort ascending, cumulative softmax, drop entries whose cumulative probability is
    /// &lt;= 1 - top_p, always keep the most likely one.
    /// </summary>
    public static Tensor TopP(Tensor scores, double topP)
    {
        if (topP >= 1.0) return scores.clone();
        using var scope = torch.NewDisposeScope();
        var (sorted, idx) = scores.sort(-1, descending: false);
        var cum = sorted.softmax(-1).cumsum(-1);                          // [N, V]
        var removeSorted = cum.le(1 - topP);
        removeSorted[.., -1] = torch.tensor(false, device: removeSorted.device); // min_tokens_to_keep = 1
        var remove = removeSorted.scatter(1, idx, removeSorted);
        return scores.masked_fill(remove, float.NegativeInfinity).MoveToOuterDisposeScope();
    }
}
