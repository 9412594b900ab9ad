using Csr.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPEncoder</c>: a stack of <see cref="ClipEncoderLayer"/> (field <c>layers</c>).</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor>
{
    public readonly ModuleList<ClipEncoderLayer> layers;

    public int NumLayers => layers.Count;

    /// <summary>Attention kernel of every layer (get: the first layer's).</summary>
    public AttentionImplementation AttentionImplementation
    {
        get => layers.Count > 0 ? layers[0].self_attn.Implementation : AttentionImplementation.Sdpa;
        set { foreach (var l in layers) l.self_attn.Implementation = value; }
    }

    public ClipEncoder(string name, int numLayers, int hidden, int intermediate, int heads, string activation, double eps) : base(name)
    {
        var list = new ClipEncoderLayer[numLayers];
        for (int i = 0; i < numLayers; i++)
            list[i] = new ClipEncoderLayer(i.ToString(), hidden, intermediate, heads, activation, eps);
        layers = nn.ModuleList(list);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>Output of the last layer. [B, T, H]</summary>
    public Tensor Forward(Tensor x, Tensor? additiveMask) => Forward(x, additiveMask, NumLayers, null);

    /// <summary>Runs the first <paramref name="upTo"/> layers; when <paramref name="collect"/> is given,
    /// appends the input and every layer's output (HF's hidden_states: entry 0 = input).</summary>
    public Tensor Forward(Tensor x, Tensor? additiveMask, int upTo, List<Tensor>? collect)
    {
        if (upTo < 0 || upTo > NumLayers) throw new ArgumentOutOfRangeException(nameof(upTo), $"upTo {upTo} outside 0..{NumLayers}.");
        collect?.Add(x.alias());
        var h = x.alias();
        for (int i = 0; i < upTo; i++)
        {
            var next = layers[i].Forward(h, additiveMask);
            if (collect is null) h.Dispose();
            h = next;
            collect?.Add(h);
        }
        return collect is null ? h : h.alias();
    }
}
