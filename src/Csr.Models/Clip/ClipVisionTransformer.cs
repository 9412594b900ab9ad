using Csr.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>
/// HF <c>CLIPVisionTransformer</c>: embeddings -> <c>pre_layrnorm</c> (HF's spelling) -> encoder;
/// pooled = <c>post_layernorm</c>(last hidden state of the class token).
/// Hidden states follow HF's <c>output_hidden_states</c>: entry 0 = encoder input (after pre_layrnorm),
/// entry i = output of layer i, L + 1 entries; LLaVA uses entry -2.
/// </summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, Tensor>
{
    public readonly ClipVisionEmbeddings embeddings;
    public readonly LayerNorm pre_layrnorm; // (H)
    public readonly ClipEncoder encoder;
    public readonly LayerNorm post_layernorm; // (H)

    public ClipVisionConfig Config { get; }

    public ClipVisionTransformer(string name, ClipVisionConfig c) : base(name)
    {
        c.Validate();
        Config = c;
        embeddings = new ClipVisionEmbeddings("embeddings", c);
        pre_layrnorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        encoder = new ClipEncoder("encoder", c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>Eager (HF's reference path) or Sdpa (default) attention in every layer.</summary>
    public AttentionImplementation AttentionImplementation
    {
        get => encoder.AttentionImplementation;
        set => encoder.AttentionImplementation = value;
    }

    /// <summary>Last hidden state (no post_layernorm). [B, N+1, H]</summary>
    public override Tensor forward(Tensor pixelValues) => HiddenState(pixelValues, -1);

    /// <summary>All L + 1 hidden states, each [B, N+1, H].</summary>
    public Tensor[] HiddenStates(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var h = pre_layrnorm.forward(embeddings.forward(pixelValues));
        var all = new List<Tensor>();
        encoder.Forward(h, null, encoder.NumLayers, all);
        foreach (var t in all) t.MoveToOuterDisposeScope();
        return all.ToArray();
    }

    /// <summary>Hidden state <paramref name="layer"/> (0..L, or negative from the end: -1 = last, -2 = LLaVA's),
    /// running only the layers needed. [B, N+1, H]</summary>
    public Tensor HiddenState(Tensor pixelValues, int layer)
    {
        int count = Config.NumHiddenLayers + 1;
        int idx = layer < 0 ? count + layer : layer;
        if (idx < 0 || idx >= count)
            throw new ArgumentOutOfRangeException(nameof(layer), $"hidden state {layer} outside -{count}..{count - 1} for {Config.NumHiddenLayers} layers.");
        using var scope = NewDisposeScope();
        var h = pre_layrnorm.forward(embeddings.forward(pixelValues));
        return encoder.Forward(h, null, idx, null).MoveToOuterDisposeScope();
    }

    /// <summary>HF's pooler_output: post_layernorm(last_hidden_state[:, 0]). [B, H]</summary>
    public Tensor Pooled(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var last = forward(pixelValues);
        return post_layernorm.forward(last.select(1, 0)).MoveToOuterDisposeScope();
    }
}
