using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>HF LlamaDecoderLayer: pre-norm attention and pre-norm MLP, each with a residual.</summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    public LlamaAttention self_attn;
    public LlamaMLP mlp;
    public LlamaRMSNorm input_layernorm;          // [H]
    public LlamaRMSNorm post_attention_layernorm; // [H]

    public LlamaDecoderLayer(LlamaConfig c, int layerIdx, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c, layerIdx, dtype);
        mlp = new LlamaMLP(c, dtype);
        input_layernorm = new LlamaRMSNorm(c.HiddenSize, c.RmsNormEps, dtype);
        post_attention_layernorm = new LlamaRMSNorm(c.HiddenSize, c.RmsNormEps, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, H]</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? allowed, bool isCausal, KvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        var h = x.Plus(self_attn.Forward(input_layernorm.forward(x), cos, sin, allowed, isCausal, cache)); // [B, T, H]
        var o = h.Plus(mlp.forward(post_attention_layernorm.forward(h)));                                // [B, T, H]
        return o.MoveToOuterDisposeScope();
    }
}
