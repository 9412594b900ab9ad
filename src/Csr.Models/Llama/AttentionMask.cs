using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>
/// Positions and the causal + padding mask for a forward over T new tokens after <c>past</c> cached ones,
/// given the 2-D attention mask <c>[B, past+T]</c> (1 = real token, 0 = left padding), as HF generate does.
/// </summary>
public static class AttentionMask
{
    /// <summary>HF: <c>position_ids = cumsum(mask) - 1</c>, padding positions set to 1, last T columns. Returns int64 <c>[B, T]</c>.</summary>
    public static Tensor PositionIds(Tensor attentionMask, long newTokens)
    {
        using var scope = torch.NewDisposeScope();
        var m = attentionMask.to_type(ScalarType.Int64);
        var pos = m.cumsum(1) - 1;
        pos = pos.masked_fill(m.eq(0), 1);
        long s = m.shape[1];
        return pos.narrow(1, s - newTokens, newTokens).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Boolean mask <c>[B, 1, T, past+T]</c>, true where query i (absolute position past+i) may attend key j:
    /// <c>j &lt;= past+i</c> and key j is not padding. Each query may always attend itself, so rows of padding
    /// queries are never empty (their outputs are unused; this keeps the softmax finite).
    /// </summary>
    public static Tensor Allowed(Tensor attentionMask, long newTokens)
    {
        using var scope = torch.NewDisposeScope();
        var dev = attentionMask.device;
        long s = attentionMask.shape[1];
        long past = s - newTokens;
        var qpos = torch.arange(past, s, dtype: ScalarType.Int64, device: dev).unsqueeze(1);   // [T, 1]
        var kpos = torch.arange(0, s, dtype: ScalarType.Int64, device: dev).unsqueeze(0);     // [1, S]
        var causal = kpos.le(qpos);                                                            // [T, S]
        var self = kpos.eq(qpos);                                                              // [T, S]
        var keyReal = attentionMask.ne(0).unsqueeze(1);                                        // [B, 1, S]
        var allowed = causal.unsqueeze(0).logical_and(keyReal).logical_or(self.unsqueeze(0));  // [B, T, S]
        return allowed.unsqueeze(1).MoveToOuterDisposeScope();
    }
}
