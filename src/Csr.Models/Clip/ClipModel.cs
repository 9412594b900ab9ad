using Csr.Models.IO;
using Csr.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>
/// HF <c>CLIPModel</c>: vision and text towers, bias-free projections to projection_dim and the learned
/// temperature <c>logit_scale</c> (a 0-dim parameter). State-dict keys equal HF's
/// (<c>vision_model.*</c>, <c>text_model.*</c>, <c>visual_projection.weight</c>, <c>text_projection.weight</c>,
/// <c>logit_scale</c>). Older checkpoints also carry the non-persistent buffers
/// <c>*.embeddings.position_ids</c>; they hold 0..N-1 and are ignored on load (see <see cref="IsIgnorableCheckpointKey"/>).
/// </summary>
public sealed class ClipModel : nn.Module<Tensor, Tensor>
{
    public readonly ClipTextTransformer text_model;
    public readonly ClipVisionTransformer vision_model;
    public readonly Linear visual_projection; // (P, H_vision)
    public readonly Linear text_projection; // (P, H_text)
    public readonly Parameter logit_scale; // ()

    public ClipConfig Config { get; }

    public ClipModel(ClipConfig config) : this("clip", config) { }

    public ClipModel(string name, ClipConfig config) : base(name)
    {
        config.Validate();
        Config = config;
        text_model = new ClipTextTransformer("text_model", config.TextConfig);
        vision_model = new ClipVisionTransformer("vision_model", config.VisionConfig);
        visual_projection = nn.Linear(config.VisionConfig.HiddenSize, config.ProjectionDim, hasBias: false);
        text_projection = nn.Linear(config.TextConfig.HiddenSize, config.ProjectionDim, hasBias: false);
        logit_scale = nn.Parameter(tensor(config.LogitScaleInitValue, ScalarType.Float32)); // default device: built inside ComputeDevice.CreateOn
        RegisterComponents();
    }

    /// <summary>Eager or Sdpa (default) attention in both towers.</summary>
    public AttentionImplementation AttentionImplementation
    {
        get => vision_model.AttentionImplementation;
        set
        {
            vision_model.AttentionImplementation = value;
            text_model.AttentionImplementation = value;
        }
    }

    /// <summary>Reads <c>config.json</c> and the safetensors weights (single or sharded) of an HF CLIP directory
    /// (openai/clip-vit-large-patch14-336 layout), strictly; old <c>position_ids</c> buffers are skipped.</summary>
    public static ClipModel FromPretrained(string dir, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var config = ClipConfig.FromFile(dir);
        var m = Csr.Native.ComputeDevice.CreateOn(device ?? CPU, () => new ClipModel(config));
        try
        {
            CheckpointLoader.LoadInto(m, dir, new CheckpointLoadOptions { DType = dtype, AllowUnexpected = IsIgnorableCheckpointKey });
        }
        catch
        {
            m.Dispose();
            throw;
        }
        m.eval();
        return m;
    }

    /// <summary>Writes <c>config.json</c> and the weights in HF's CLIPModel layout. Returns the paths written.</summary>
    public IReadOnlyList<string> SavePretrained(string dir, long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes, ScalarType? dtype = null) =>
        CheckpointWriter.Save(this, dir, maxShardBytes, dtype, new Dictionary<string, string> { ["config.json"] = Config.ToJson() });

    /// <summary>Checkpoint keys that are not parameters here and may be skipped when loading:
    /// the <c>position_ids</c> buffers older transformers versions saved.</summary>
    public static bool IsIgnorableCheckpointKey(string key) => key.EndsWith("embeddings.position_ids", StringComparison.Ordinal);

    /// <summary>Image embeddings before normalisation: visual_projection(pooled). [B, P]</summary>
    public Tensor GetImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        return visual_projection.forward(vision_model.Pooled(pixelValues)).MoveToOuterDisposeScope();
    }

    /// <summary>Text embeddings before normalisation: text_projection(pooled at EOS). [B, P]</summary>
    public Tensor GetTextFeatures(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        return text_projection.forward(text_model.Pooled(inputIds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>exp(logit_scale) * normalize(image) @ normalize(text)^T, as HF (L2 norms over the last dim).
    /// [B_image, B_text]</summary>
    public Tensor LogitsFromFeatures(Tensor imageFeatures, Tensor textFeatures)
    {
        using var scope = NewDisposeScope();
        var img = imageFeatures / imageFeatures.norm(-1, true, 2);
        var txt = textFeatures / textFeatures.norm(-1, true, 2);
        var logitsPerText = txt.matmul(img.t()) * logit_scale.exp().to(txt.dtype); // [B_text, B_image]
        return logitsPerText.t().contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>HF's <c>logits_per_image</c>. [B_image, B_text]</summary>
    public Tensor LogitsPerImage(Tensor pixelValues, Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var img = GetImageFeatures(pixelValues);
        var txt = GetTextFeatures(inputIds, attentionMask);
        return LogitsFromFeatures(img, txt).MoveToOuterDisposeScope();
    }

    /// <summary>HF's <c>clip_loss</c> (CLIPModel with return_loss): the mean of the cross-entropies of
    /// logits_per_text and logits_per_image against the diagonal (pair i matches pair i). [] scalar</summary>
    /// <param name="logitsPerImage">[B, B] square matrix of matching pairs</param>
    public static Tensor ContrastiveLoss(Tensor logitsPerImage)
    {
        if (logitsPerImage.dim() != 2 || logitsPerImage.shape[0] != logitsPerImage.shape[1])
            throw new ArgumentException($"contrastive loss needs a square [B, B] logits matrix, got [{string.Join(", ", logitsPerImage.shape)}].");
        using var scope = NewDisposeScope();
        var target = arange(logitsPerImage.shape[0], dtype: ScalarType.Int64, device: logitsPerImage.device);
        var logits = logitsPerImage.to(ScalarType.Float32);
        var imageLoss = nn.functional.cross_entropy(logits, target);
        var textLoss = nn.functional.cross_entropy(logits.t(), target);
        return ((imageLoss + textLoss) / 2.0).MoveToOuterDisposeScope();
    }

    /// <summary>Contrastive loss of B matching (image, text) pairs. [] scalar</summary>
    public Tensor ContrastiveLoss(Tensor pixelValues, Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        return ContrastiveLoss(LogitsPerImage(pixelValues, inputIds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>Image features (unnormalised). Use the named methods for the rest.</summary>
    public override Tensor forward(Tensor pixelValues) => GetImageFeatures(pixelValues);
}
