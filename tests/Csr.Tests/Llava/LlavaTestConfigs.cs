using System.Text.Json;
using Csr.Models.Clip;
using Csr.Models.Llama;
using Csr.Models.Llava;

namespace Csr.Tests.Llava;

internal static class LlavaTestConfigs
{
    /// <summary>llava-hf/llava-1.5-7b-hf config.json as published (partial text_config: Llama defaults fill it).</summary>
    public const string Llava15_7bJson = """
    {
      "architectures": ["LlavaForConditionalGeneration"],
      "ignore_index": -100,
      "image_token_index": 32000,
      "model_type": "llava",
      "pad_token_id": 32001,
      "projector_hidden_act": "gelu",
      "text_config": {
        "_name_or_path": "lmsys/vicuna-7b-v1.5",
        "architectures": ["LlamaForCausalLM"],
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "rms_norm_eps": 1e-05,
        "torch_dtype": "float16",
        "vocab_size": 32064
      },
      "tie_word_embeddings": false,
      "torch_dtype": "float16",
      "transformers_version": "4.36.0.dev0",
      "vision_config": {
        "hidden_size": 1024,
        "image_size": 336,
        "intermediate_size": 4096,
        "model_type": "clip_vision_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "patch_size": 14,
        "projection_dim": 768,
        "vocab_size": 32000
      },
      "vision_feature_layer": -2,
      "vision_feature_select_strategy": "default",
      "vocab_size": 32064
    }
    """;

    public static LlavaConfig Llava15_7b()
    {
        using var doc = JsonDocument.Parse(Llava15_7bJson);
        return LlavaConfig.FromJson(doc.RootElement);
    }

    /// <summary>Tiny LLaVA: 12 px / patch 4 -> 9 patches, vision hidden 16, text hidden 32, vocab 64, image token 63.</summary>
    public static LlavaConfig Tiny(string strategy = "default", int[]? layers = null) => new LlavaConfig
    {
        TextConfig = LlamaConfig.Tiny(),
        VisionConfig = new ClipVisionConfig
        {
            HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 3, NumAttentionHeads = 2,
            ImageSize = 12, PatchSize = 4, ProjectionDim = 8,
        },
        ImageTokenIndex = 63,
        VisionFeatureSelectStrategy = strategy,
        VisionFeatureLayers = layers ?? new[] { -2 },
        ImageSeqLength = 9 + (strategy == "full" ? 1 : 0),
        PadTokenId = 0,
    }.Validate();
}
