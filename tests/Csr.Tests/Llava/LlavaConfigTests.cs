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
}
