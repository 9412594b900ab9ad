using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPEncoderLayer</c>: pre-norm residual attention block then pre-norm residual MLP.</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    public readonly ClipAttention self_attn;
    public readonly LayerNorm layer_norm1; // (H)
    public readonly ClipMlp mlp;
    public readonly LayerNorm layer_norm2; // (H)

    public ClipEncoderLayer(string name, int hidden, int intermediate, int heads, string activation, double eps) : base(name)
    {
        self_attn = new ClipAttention("self_attn", hidden, heads);
        layer_norm1 = nn.LayerNorm(hidden, eps);
        mlp = new ClipMlp("mlp", hidden, intermediate, activation);
        layer_norm2 = nn.LayerNorm(hidden, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="x">[B, T, H]</param>
    /// <param name="additiveMask">[B or 1, 1, T, T] or null</param>
    public Tensor Forward(Tensor x, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(self_attn.Forward(layer_norm1.forward(x), additiveMask));
        var y = h.Plus(mlp.forward(layer_norm2.forward(h)));
        return y.MoveToOuterDisposeScope();
    }
}
