using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPVisionEmbeddings</c>: class token + conv patch embeddings (no bias) + learned
/// absolute positions. The <c>position_ids</c> buffer is not persisted (as in recent HF); positions are 0..N.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    public readonly Parameter class_embedding; // (H)
    public readonly Conv2d patch_embedding; // (H, C, P, P)
    public readonly Embedding position_embedding; // (N + 1, H)

    public ClipVisionConfig Config { get; }

    public ClipVisionEmbeddings(string name, ClipVisionConfig c) : base(name)
    {
        Config = c;
        using (no_grad())
        {
            class_embedding = nn.Parameter(randn(c.HiddenSize) * Math.Pow(c.HiddenSize, -0.5)); // default device: built inside ComputeDevice.CreateOn
            patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize, bias: false);
            position_embedding = nn.Embedding(c.NumPositions, c.HiddenSize);
            position_embedding.weight!.normal_(0, c.InitializerRange);
        }
        RegisterComponents();
    }

    /// <param name="pixelValues">[B, C, S, S] (any float dtype; cast to the weights' dtype)</param>
    /// <returns>[B, N + 1, H]</returns>
    public override Tensor forward(Tensor pixelValues)
    {
        var c = Config;
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != c.NumChannels || pixelValues.shape[2] != c.ImageSize || pixelValues.shape[3] != c.ImageSize)
            throw new ArgumentException($"pixel values must be [B, {c.NumChannels}, {c.ImageSize}, {c.ImageSize}], got [{string.Join(", ", pixelValues.shape)}].");
        using var scope = NewDisposeScope();
        var w = patch_embedding.weight!;
        var patches = patch_embedding.forward(pixelValues.to(w.dtype)); // [B, H, g, g]
        patches = patches.flatten(2).transpose(1, 2); // [B, N, H]
        long b = patches.shape[0];
        var cls = class_embedding.to(patches.dtype).view(1, 1, -1).expand(b, 1, -1); // [B, 1, H]
        var emb = cat(new[] { cls, patches }, 1) + position_embedding.weight!.unsqueeze(0); // [B, N+1, H]
        return emb.MoveToOuterDisposeScope();
    }
}
