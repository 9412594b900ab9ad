using System.Text.Json;
using Csr.Models.Clip;

namespace Csr.Tests.Clip;

/// <summary>Configs used by the CLIP tests: the real openai/clip-vit-large-patch14-336 config.json
/// (as published on the HF hub, abridged to the keys that matter) and a tiny one.</summary>
internal static class ClipTestConfigs
{
    public const string ClipVitL14_336Json = """
    {
      "architectures": ["CLIPModel"],
      "initializer_factor": 1.0,
      "logit_scale_init_value": 2.6592,
      "model_type": "clip",
      "projection_dim": 768,
      "text_config": {
        "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "hidden_act": "quick_gelu",
        "hidden_size": 768, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77, "model_type": "clip_text_model",
        "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
        "projection_dim": 768, "vocab_size": 49408
      },
      "torch_dtype": "float32",
      "vision_config": {
        "dropout": 0.0, "hidden_act": "quick_gelu", "hidden_size": 1024, "image_size": 336,
        "intermediate_size": 4096, "layer_norm_eps": 1e-05, "model_type": "clip_vision_model",
        "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 24,
        "patch_size": 14, "projection_dim": 768
      }
    }
    """;

    public static ClipConfig ClipVitL14_336()
    {
        using var doc = JsonDocument.Parse(ClipVitL14_336Json);
        return ClipConfig.FromJson(doc.RootElement);
    }

    public static ClipVisionConfig TinyVision(string act = "quick_gelu") => new ClipVisionConfig
    {
        HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 3, NumAttentionHeads = 2,
        ImageSize = 12, PatchSize = 4, ProjectionDim = 8, HiddenAct = act,
    }.Validate();

    public static ClipTextConfig TinyText(int eos = 2) => new ClipTextConfig
    {
        VocabSize = 40, HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 2, NumAttentionHeads = 4,
        MaxPositionEmbeddings = 10, ProjectionDim = 8, EosTokenId = eos, BosTokenId = 0, PadTokenId = 1,
    }.Validate();

    public static ClipConfig Tiny(int eos = 2) => new ClipConfig
    {
        TextConfig = TinyText(eos), VisionConfig = TinyVision(), ProjectionDim = 8,
    }.Validate();
}
