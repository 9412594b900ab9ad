using Csr.Models.Clip;
using Csr.Models.IO;
using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llava;

/// <summary>
/// HF <c>LlavaForConditionalGeneration</c> (LLaVA-1.5): CLIP vision tower -> hidden state
/// <c>vision_feature_layer</c> (class token dropped with "default") -> projector -> spliced into the
/// Llama input embeddings at the <c>image_token_index</c> positions. State-dict keys are the older
/// llava-hf names: <c>vision_tower.vision_model.*</c>, <c>multi_modal_projector.linear_{1,2}.*</c>,
/// <c>language_model.model.*</c>, <c>language_model.lm_head.weight</c>.
/// The prompt must already hold one image token per feature (HF processor style, 576 per image);
/// <see cref="ExpandImageTokens"/> turns LLaVA's single <c>&lt;image&gt;</c> into that.
/// </summary>
public sealed class LlavaForConditionalGeneration : nn.Module, ICausalLm
{
    public readonly ClipVisionModel vision_tower;
    public readonly LlavaMultiModalProjector multi_modal_projector;
    public readonly LlamaForCausalLM language_model;

    public LlavaConfig Config { get; }

    /// <param name="config">validated here</param>
    /// <param name="dtype">dtype of every parameter</param>
    /// <param name="init">when given, weights are drawn from it (normal(0, 0.02), norms 1, biases 0);
    /// otherwise they are left at their constructors' defaults, to be loaded from a checkpoint</param>
    public LlavaForConditionalGeneration(LlavaConfig config, ScalarType dtype = ScalarType.Float32, Generator? init = null)
        : base(nameof(LlavaForConditionalGeneration))
    {
        Config = config.Validate();
        vision_tower = new ClipVisionModel("vision_tower", config.VisionConfig);
        multi_modal_projector = new LlavaMultiModalProjector("multi_modal_projector", config.ProjectorInputDim,
            config.TextConfig.HiddenSize, config.ProjectorHiddenAct, config.MultimodalProjectorBias);
        language_model = new LlamaForCausalLM(config.TextConfig, dtype, null);
        RegisterComponents();
        if (init is not null)
        {
            ClipInit.InitWeights(vision_tower, init);
            ClipInit.InitWeights(multi_modal_projector, init);
            language_model.InitWeights(init);
        }
        if (dtype != ScalarType.Float32)
        {
            vision_tower.to(dtype);
            multi_modal_projector.to(dtype);
        }
    }

    /// <summary>Eager or Sdpa attention in the vision tower and the language model.</summary>
    public AttentionImplementation AttentionImplementation
    {
        get => language_model.AttentionImplementation;
        set
        {
            vision_tower.AttentionImplementation = value;
            language_model.AttentionImplementation = value;
        }
    }

    /// <summary>Reads <c>config.json</c> and the safetensors checkpoint (single or sharded; older, newer or
    /// original LLaVA naming via <see cref="LlavaKeyMap"/>) of an HF llava directory, strictly
    /// (missing / unexpected / mis-shaped keys are errors naming key and file), in <paramref name="dtype"/>.</summary>
    public static LlavaForConditionalGeneration FromPretrained(string dir, ScalarType dtype = ScalarType.Float32, Device? device = null,
        Action<int, int, long, long>? progress = null)
    {
        var config = LlavaConfig.FromFile(dir);
        // parameters are allocated on the device; the loader streams each tensor into them through a bounded host chunk
        var m = Csr.Native.ComputeDevice.CreateOn(device ?? CPU, () => new LlavaForConditionalGeneration(config, dtype));
        try
        {
            CheckpointLoader.LoadInto(m, dir, new CheckpointLoadOptions
            {
                KeyMap = LlavaKeyMap.Map, DType = dtype, AllowUnexpected = IsIgnorableCheckpointKey, Progress = progress,
            });
        }
        catch
        {
            m.Dispose();
            throw;
        }
        m.eval();
        return m;
    }

    /// <summary>Writes <c>config.json</c> and the weights (older llava-hf names; sharded above
    /// <paramref name="maxShardBytes"/>) to <paramref name="dir"/>. Returns the paths written.</summary>
    public IReadOnlyList<string> SavePretrained(string dir, long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes, ScalarType? dtype = null) =>
        CheckpointWriter.Save(this, dir, maxShardBytes, dtype, new Dictionary<string, string> { ["config.json"] = Config.ToJson() });

    /// <summary>Checkpoint keys that are buffers, not parameters, and may be skipped on load
    /// (<c>vision_tower.vision_model.embeddings.position_ids</c> of older conversions).</summary>
    public static bool IsIgnorableCheckpointKey(string key) => ClipModel.IsIgnorableCheckpointKey(key);

    /// <summary>Projected image features. pixels [B, 3, S, S] -> [B, FeaturesPerImage, H_text]</summary>
    public Tensor EncodeImages(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var layers = Config.VisionFeatureLayers;
        // a frozen tower (the usual case: LLaVA fine-tuning trains the projector, not the ViT) keeps no graph
        bool towerNeedsGrad = pixelValues.requires_grad || vision_tower.parameters().Any(p => p.requires_grad);
        var towerGrad = towerNeedsGrad ? null : no_grad();
        Tensor selected;
        try
        {
            if (layers.Length == 1)
                selected = vision_tower.HiddenState(pixelValues, layers[0]); // [B, N+1, Hv]
            else
            {
                var all = vision_tower.HiddenStates(pixelValues);
                selected = cat(layers.Select(l => all[l < 0 ? all.Length + l : l]).ToArray(), -1); // [B, N+1, Hv*k]
            }
            if (Config.VisionFeatureSelectStrategy == "default")
                selected = selected.narrow(1, 1, selected.shape[1] - 1); // drop the class token
        }
        finally
        {
            towerGrad?.Dispose();
        }
        var w = multi_modal_projector.linear_1.weight!;
        return multi_modal_projector.forward(selected.to(w.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Token embeddings with image features written at the image-token positions, in order:
    /// the k-th image token of the batch (row-major) receives the k-th feature row of
    /// <paramref name="imageFeatures"/> flattened to [B_img * N, H] (HF's masked_scatter).
    /// ids [B, T] -> [B, T, H]. Throws when the counts differ.
    /// </summary>
    public Tensor EmbedInputs(Tensor inputIds, Tensor? imageFeatures)
    {
        using var scope = NewDisposeScope();
        var isImage = inputIds.eq(Config.ImageTokenIndex); // [B, T]
        long nTokens = isImage.sum().item<long>();
        long nFeatures = imageFeatures is null ? 0 : imageFeatures.shape[0] * imageFeatures.shape[1];
        if (nTokens != nFeatures)
            throw new ArgumentException($"Image features and image tokens do not match: {nTokens} image tokens (id {Config.ImageTokenIndex}) " +
                $"but {nFeatures} image feature rows{(imageFeatures is null ? " (no image features given)" : $" (shape [{string.Join(", ", imageFeatures.shape)}])")}.");
        // the image token id may lie outside the text vocabulary: embed a harmless id there, it is overwritten
        var ids = nTokens > 0 ? inputIds.masked_fill(isImage, 0) : inputIds;
        var embeds = language_model.Embed(ids); // [B, T, H]
        if (nTokens == 0) return embeds.MoveToOuterDisposeScope();
        long h = embeds.shape[2];
        if (imageFeatures!.shape[^1] != h)
            throw new ArgumentException($"Image features have width {imageFeatures.shape[^1]} but the text embeddings {h}.");
        var mask = isImage.unsqueeze(-1).expand(embeds.shape); // [B, T, H]
        var result = embeds.masked_scatter(mask, imageFeatures.to(embeds.dtype).reshape(-1, h));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Replaces each single image token with <see cref="LlavaConfig.ImageSeqLength"/> copies
    /// (what the llava-hf processor does to "&lt;image&gt;").</summary>
    public static int[] ExpandImageTokens(IReadOnlyList<int> ids, int imageTokenIndex, int imageSeqLength)
    {
        var result = new List<int>(ids.Count + imageSeqLength);
        foreach (var id in ids)
        {
            if (id == imageTokenIndex) result.AddRange(Enumerable.Repeat(imageTokenIndex, imageSeqLength));
            else result.Add(id);
        }
        return result.ToArray();
    }

    public int[] ExpandImageTokens(IReadOnlyList<int> ids) => ExpandImageTokens(ids, Config.ImageTokenIndex, Config.ImageSeqLength);

    // ICausalLm: the language model does the rest

    public Tensor Embed(Tensor inputIds) => language_model.Embed(inputIds);

    public Tensor Forward(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache) => language_model.Forward(inputsEmbeds, attentionMask, cache);

    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache) => language_model.ForwardHidden(inputsEmbeds, attentionMask, cache);

    public Tensor LmHeadWeight => language_model.LmHeadWeight;

    public int VocabSize => language_model.VocabSize;

    /// <summary>The device of the weights: where every tensor of a forward or a generation step is created.</summary>
    public Device Device => language_model.LmHeadWeight.device;

    public KvCache NewCache() => language_model.NewCache();
}
