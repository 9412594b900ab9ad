using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>
/// Where a generation starts: a cache holding the context, its attention mask <c>[B, past]</c>
/// (1 = real, 0 = padding, anywhere) and the logits for the next token <c>[B, V]</c> (fp32).
/// Owns its cache and tensors (detached from dispose scopes) until disposed. Generation never modifies it,
/// so one start can feed several generations (e.g. CSR children of one parent).
/// </summary>
public sealed class GenerationStart : IDisposable
{
    public KvCache Cache { get; }
    /// <summary>[B, past] int64.</summary>
    public Tensor AttentionMask { get; }
    /// <summary>[B, V] fp32 logits of the next token.</summary>
    public Tensor NextLogits { get; }
    public long BatchSize => AttentionMask.shape[0];
    public long PastLength => AttentionMask.shape[1];

    private GenerationStart(KvCache cache, Tensor mask, Tensor logits)
    {
        Cache = cache;
        AttentionMask = mask;
        NextLogits = logits;
        AttentionMask.DetachFromDisposeScope();
        NextLogits.DetachFromDisposeScope();
    }

    /// <summary>Prefill from embeddings <c>[B, T, H]</c> with a mask <c>[B, T]</c> (left padding as HF).</summary>
    public static GenerationStart Prefill(ICausalLm lm, Tensor inputsEmbeds, Tensor attentionMask)
    {
        var cache = lm.NewCache();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var mask = attentionMask.to_type(ScalarType.Int64);
            var logits = LastLogits(lm, inputsEmbeds, mask, cache);
            return new GenerationStart(cache, mask.clone().MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>Prefill from token ids <c>[B, T]</c>; mask defaults to all ones.</summary>
    public static GenerationStart PrefillIds(ICausalLm lm, Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var mask = attentionMask ?? torch.ones(inputIds.shape[0], inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device);
        return Prefill(lm, lm.Embed(inputIds), mask);
    }

    /// <summary>
    /// Continue from an existing cache: <paramref name="attentionMask"/> is <c>[B, cache.Length]</c>, <paramref name="nextLogits"/>
    /// <c>[B, V]</c>. The cache is cloned unless <paramref name="takeOwnership"/> (then it is disposed with this start).
    /// </summary>
    public static GenerationStart FromCache(KvCache cache, Tensor attentionMask, Tensor nextLogits, bool takeOwnership = false)
    {
        if (attentionMask.dim() != 2 || attentionMask.shape[1] != cache.Length || (!cache.IsEmpty && attentionMask.shape[0] != cache.BatchSize))
            throw new ArgumentException($"GenerationStart.FromCache: mask [{string.Join(", ", attentionMask.shape)}] does not match cache (batch {cache.BatchSize}, length {cache.Length})");
        if (nextLogits.dim() != 2 || nextLogits.shape[0] != attentionMask.shape[0])
            throw new ArgumentException($"GenerationStart.FromCache: next logits must be [B={attentionMask.shape[0]}, V], got [{string.Join(", ", nextLogits.shape)}]");
        var c = takeOwnership ? cache : cache.Clone();
        return new GenerationStart(c, attentionMask.to_type(ScalarType.Int64).clone(), nextLogits.to_type(ScalarType.Float32).clone());
    }

    /// <summary>
    /// Continue from a cache plus tokens not yet fed (<paramref name="pendingIds"/> <c>[B, t]</c>, e.g. the sentence end a
    /// beam stopped on): runs one forward over them. <paramref name="attentionMask"/> is <c>[B, cache.Length]</c>;
    /// pending tokens are real (mask 1). The cache is cloned unless <paramref name="takeOwnership"/>.
    /// </summary>
    public static GenerationStart FromPending(ICausalLm lm, KvCache cache, Tensor attentionMask, Tensor pendingIds, bool takeOwnership = false)
    {
        var c = takeOwnership ? cache : cache.Clone();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            if (pendingIds.dim() == 1) pendingIds = pendingIds.unsqueeze(1);
            var mask = torch.cat(new[] { attentionMask.to_type(ScalarType.Int64), torch.ones_like(pendingIds, dtype: ScalarType.Int64) }, 1);
            var logits = LastLogits(lm, lm.Embed(pendingIds.to_type(ScalarType.Int64)), mask, c);
            return new GenerationStart(c, mask.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
        }
        catch
        {
            if (!takeOwnership) c.Dispose();
            throw;
        }
    }

    /// <summary>fp32 logits <c>[B, V]</c> of the last position; only that row goes through the output projection.</summary>
    public static Tensor LastLogits(ICausalLm lm, Tensor embeds, Tensor mask, KvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        var h = lm.ForwardHidden(embeds, mask, cache);              // [B, T, H]
        var last = h[.., -1, ..];                                   // [B, H]
        var logits = Fast.FastLinear.Linear(last, lm.LmHeadWeight); // [B, V]
        return logits.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Cache.Dispose();
        AttentionMask.Dispose();
        NextLogits.Dispose();
    }
}
