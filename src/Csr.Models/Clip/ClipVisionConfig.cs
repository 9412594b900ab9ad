using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPVisionConfig</c> (config.json "vision_config"); defaults are HF's.</summary>
public sealed record ClipVisionConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 32;
    /// <summary>"quick_gelu" (OpenAI CLIP), "gelu", "gelu_new"/"gelu_pytorch_tanh", "relu".</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; } = 0.0;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_vision_model";

    /// <summary>(image_size / patch_size)^2 patches.</summary>
    [JsonIgnore] public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
    /// <summary>Patches + the class token.</summary>
    [JsonIgnore] public int NumPositions => NumPatches + 1;
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    public ClipVisionConfig Validate()
    {
        ConfigChecks.Positive(HiddenSize, "vision_config.hidden_size");
        ConfigChecks.Positive(IntermediateSize, "vision_config.intermediate_size");
        ConfigChecks.Positive(NumHiddenLayers, "vision_config.num_hidden_layers");
        ConfigChecks.Positive(NumAttentionHeads, "vision_config.num_attention_heads");
        ConfigChecks.Positive(NumChannels, "vision_config.num_channels");
        ConfigChecks.Positive(ImageSize, "vision_config.image_size");
        ConfigChecks.Positive(PatchSize, "vision_config.patch_size");
        ConfigChecks.Positive(ProjectionDim, "vision_config.projection_dim");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"vision_config.hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        if (ImageSize % PatchSize != 0)
            throw new ArgumentException($"vision_config.image_size {ImageSize} is not divisible by patch_size {PatchSize}.");
        if (!(LayerNormEps > 0)) throw new ArgumentException($"vision_config.layer_norm_eps must be > 0, got {LayerNormEps}.");
        ClipActivation.Check(HiddenAct, "vision_config.hidden_act");
        return this;
    }

    public static ClipVisionConfig FromJson(JsonElement e) =>
        (e.Deserialize<ClipVisionConfig>(ConfigChecks.JsonOptions) ?? throw new ArgumentException("vision_config is null.")).Validate();

    public JsonElement ToJson() => JsonSerializer.SerializeToElement(this, ConfigChecks.JsonOptions);
}
