using Csr.Models.Llama;
using static TorchSharp.torch;

namespace Csr.Models;

/// <summary>
/// A decoder-only language model that generation and training code can drive without knowing its architecture
/// (Llama, LLaVA). Tensors returned are owned by the caller's dispose scope; inputs are never disposed.
/// </summary>
public interface ICausalLm
{
    /// <summary>Token embeddings <c>[B, T, H]</c> for int64 ids <c>[B, T]</c>.</summary>
    Tensor Embed(Tensor inputIds);

    /// <summary>
    /// Logits <c>[B, T, V]</c> for <paramref name="inputsEmbeds"/> <c>[B, T, H]</c>. <paramref name="attentionMask"/> is
    /// <c>[B, past+T]</c> (1 = real, 0 = left padding) where past = <c>cache?.Length ?? 0</c>; positions are
    /// <c>cumsum(mask) - 1</c> as HF. A given cache is extended by T positions.
    /// </summary>
    Tensor Forward(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache);

    /// <summary>Same as <see cref="Forward"/> but returns the final normed hidden states <c>[B, T, H]</c>.</summary>
    Tensor ForwardHidden(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache);

    /// <summary>The output projection <c>[V, H]</c> (logits = hidden @ W^T).</summary>
    Tensor LmHeadWeight { get; }

    int VocabSize { get; }

    /// <summary>An empty cache with one slot per decoder layer.</summary>
    KvCache NewCache();
}
