using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPTextEmbeddings</c>: token + learned absolute position embeddings
/// (positions 0..T-1; the <c>position_ids</c> buffer is not persisted, as in recent HF).</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    public readonly Embedding token_embedding; // (V, H)
    public readonly Embedding position_embedding; // (max_position_embeddings, H)

    public ClipTextConfig Config { get; }

    public ClipTextEmbeddings(string name, ClipTextConfig c) : base(name)
    {
        Config = c;
        token_embedding = nn.Embedding(c.VocabSize, c.HiddenSize);
        position_embedding = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize);
        using (no_grad())
        {
            token_embedding.weight!.normal_(0, c.InitializerRange);
            position_embedding.weight!.normal_(0, c.InitializerRange);
        }
        RegisterComponents();
    }

    /// <param name="inputIds">[B, T] int64</param>
    /// <returns>[B, T, H]</returns>
    public override Tensor forward(Tensor inputIds)
    {
        long t = inputIds.shape[^1];
        if (t > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"Sequence length {t} exceeds max_position_embeddings {Config.MaxPositionEmbeddings}.");
        using var scope = NewDisposeScope();
        var tok = token_embedding.forward(inputIds);
        var pos = position_embedding.weight!.narrow(0, 0, t).unsqueeze(0); // [1, T, H]
        return (tok + pos).MoveToOuterDisposeScope();
    }
}
