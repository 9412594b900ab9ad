using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPTextConfig</c> (config.json "text_config"); defaults are HF's.</summary>
public sealed record ClipTextConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 2048;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 8;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; } = 0.0;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 49406;
    /// <summary>2 in the original OpenAI configs: HF then pools at argmax(input_ids) (the legacy rule,
    /// the EOT token having the largest id); otherwise at the first position of eos_token_id.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 49407;
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_text_model";

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
    /// <summary>True when HF's legacy pooling (argmax of the ids) applies.</summary>
    [JsonIgnore] public bool LegacyEosPooling => EosTokenId == 2;

    public ClipTextConfig Validate()
    {
        ConfigChecks.Positive(VocabSize, "text_config.vocab_size");
        ConfigChecks.Positive(HiddenSize, "text_config.hidden_size");
        ConfigChecks.Positive(IntermediateSize, "text_config.intermediate_size");
        ConfigChecks.Positive(NumHiddenLayers, "text_config.num_hidden_layers");
        ConfigChecks.Positive(NumAttentionHeads, "text_config.num_attention_heads");
        ConfigChecks.Positive(MaxPositionEmbeddings, "text_config.max_position_embeddings");
        ConfigChecks.Positive(ProjectionDim, "text_config.projection_dim");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"text_config.hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        if (!(LayerNormEps > 0)) throw new ArgumentException($"text_config.layer_norm_eps must be > 0, got {LayerNormEps}.");
        if (EosTokenId < 0 || EosTokenId >= VocabSize)
            throw new ArgumentException($"text_config.eos_token_id {EosTokenId} is outside the vocabulary (size {VocabSize}).");
        ClipActivation.Check(HiddenAct, "text_config.hidden_act");
        return this;
    }

    public static ClipTextConfig FromJson(JsonElement e) =>
        (e.Deserialize<ClipTextConfig>(ConfigChecks.JsonOptions) ?? throw new ArgumentException("text_config is null.")).Validate();

    public JsonElement ToJson() => JsonSerializer.SerializeToElement(this, ConfigChecks.JsonOptions);
}
