namespace Csr.Models.Llama;

/// <summary>Which attention kernel Llama uses (HF <c>attn_implementation</c>).</summary>
public enum AttentionImplementation
{
    /// <summary>Plain softmax(Q K^T / sqrt(d) + mask) V with an fp32 softmax, as HF's eager path.</summary>
    Eager,
    /// <summary>torch scaled_dot_product_attention (libtorch's fused CPU kernel).</summary>
    Sdpa,
}
