using System.Text.Json;
using Csr.Models.Llava;

namespace Csr.Tests.Llava;

public class LlavaConfigTests
{
    [Fact]
    public void Real_llava_15_7b_config_fills_llama_defaults()
    {
        var c = LlavaTestConfigs.Llava15_7b();
        Assert.Equal(4096, c.TextConfig.HiddenSize);
        Assert.Equal(11008, c.TextConfig.IntermediateSize);
        Assert.Equal(32, c.TextConfig.NumHiddenLayers);
        Assert.Equal(32, c.TextConfig.KvHeads);
        Assert.Equal(32064, c.TextConfig.VocabSize);
        Assert.Equal(4096, c.TextConfig.MaxPositionEmbeddings);
        Assert.Equal(1e-5, c.TextConfig.RmsNormEps);
        Assert.Equal(10000.0, c.TextConfig.RopeTheta);
        Assert.Equal(1024, c.VisionConfig.HiddenSize);
        Assert.Equal(577, c.VisionConfig.NumPositions);
        Assert.Equal(32000, c.ImageTokenIndex);
        Assert.Equal(32001, c.PadTokenId);
        Assert.Equal(new[] { -2 }, c.VisionFeatureLayers);
        Assert.Equal("default", c.VisionFeatureSelectStrategy);
        Assert.Equal(576, c.ImageSeqLength);
        Assert.Equal(576, c.FeaturesPerImage);
        Assert.Equal("gelu", c.ProjectorHiddenAct);
    }

    [Fact]
    public void Absent_sections_take_hf_llava_defaults()
    {
        using var doc = JsonDocument.Parse("{}");
        var c = LlavaConfig.FromJson(doc.RootElement);
        Assert.Equal(336, c.VisionConfig.ImageSize);
        Assert.Equal(14, c.VisionConfig.PatchSize);
        Assert.Equal(24, c.VisionConfig.NumHiddenLayers);
        Assert.Equal(4096, c.TextConfig.HiddenSize);
        Assert.Equal(576, c.ImageSeqLength);
    }

    [Fact]
    public void Round_trips_through_its_json()
    {
        var c = LlavaTestConfigs.Tiny("full", new[] { -2, -1 });
        using var doc = JsonDocument.Parse(c.ToJson());
        var back = LlavaConfig.FromJson(doc.RootElement);
        Assert.Equal(c.TextConfig.ToJson(), back.TextConfig.ToJson());
        Assert.Equal(c.VisionConfig, back.VisionConfig);
        Assert.Equal(c.VisionFeatureLayers, back.VisionFeatureLayers);
        Assert.Equal(c.ImageSeqLength, back.ImageSeqLength);
        Assert.Equal(c.ImageTokenIndex, back.ImageTokenIndex);
        Assert.Equal(c.PadTokenId, back.PadTokenId);
        Assert.Equal(32, back.ProjectorInputDim);
    }

    [Theory]
    [InlineData("""{"vision_feature_select_strategy": "cls"}""", "vision_feature_select_strategy")]
    [InlineData("""{"vision_feature_layer": -26}""", "vision_feature_layer")]
    [InlineData("""{"image_seq_length": 577}""", "image_seq_length")]
    [InlineData("""{"projector_hidden_act": "tanh"}""", "projector_hidden_act")]
    [InlineData("""{"text_config": {"hidden_size": 100, "num_attention_heads": 3}}""", "hidden_size")]
    [InlineData("""{"text_config": {"model_type": "mistral"}}""", "model_type")]
    [InlineData("""{"vision_config": {"model_type": "siglip_vision_model"}}""", "vision_config.model_type")]
    [InlineData("""{"vision_config": {"image_size": 100, "patch_size": 14}}""", "patch_size")]
    public void Invalid_configs_are_errors_naming_the_key(string json, string key)
    {
        using var doc = JsonDocument.Parse(json);
        var ex = Assert.Throws<InvalidDataException>(() => LlavaConfig.FromJson(doc.RootElement, "cfg.json"));
        Assert.Contains(key, ex.Message);
        Assert.Contains("cfg.json", ex.Message);
    }

    [Fact]
    public void Missing_file_is_named()
    {
        string p = Path.Combine(Path.GetTempPath(), "no-such-llava-" + Guid.NewGuid().ToString("N"), "config.json");
        Assert.Contains(p, Assert.Throws<FileNotFoundException>(() => LlavaConfig.FromFile(p)).Message);
    }

    [Fact]
    public void Newer_transformers_config_layout_reads_too()
    {
        using var doc = JsonDocument.Parse("""
            {
              "architectures": ["LlavaForConditionalGeneration"], "dtype": "float16", "image_seq_length": 576,
              "image_token_id": 32000, "model_type": "llava", "multimodal_projector_bias": true,
              "projector_hidden_act": "gelu",
              "text_config": {"attention_bias": false, "attention_dropout": 0.0, "head_dim": 128, "hidden_act": "silu",
                "hidden_size": 4096, "intermediate_size": 11008, "max_position_embeddings": 4096, "mlp_bias": false,
                "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
                "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
                "use_cache": true, "vocab_size": 32064},
              "tie_word_embeddings": false, "transformers_version": "4.57.0",
              "vision_config": {"attention_dropout": 0.0, "hidden_act": "quick_gelu", "hidden_size": 1024,
                "image_size": 336, "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 4096,
                "layer_norm_eps": 1e-05, "model_type": "clip_vision_model", "num_attention_heads": 16,
                "num_channels": 3, "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768,
                "vocab_size": 32000},
              "vision_feature_layer": -2, "vision_feature_select_strategy": "default"
            }
            """);
        var c = LlavaConfig.FromJson(doc.RootElement);
        Assert.Equal(32000, c.ImageTokenIndex);
        Assert.Equal(128, c.TextConfig.HeadDim);
        Assert.Null(c.TextConfig.RopeScaling);
        Assert.Equal(576, c.ImageSeqLength);
        var old = LlavaTestConfigs.Llava15_7b();
        Assert.Equal(LlavaStateDictLayout.Model(old).Select(kv => kv.Key), LlavaStateDictLayout.Model(c).Select(kv => kv.Key));
    }
}
