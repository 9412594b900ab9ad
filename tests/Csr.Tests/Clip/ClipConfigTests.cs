using System.Text.Json;
using Csr.Models.Clip;

namespace Csr.Tests.Clip;

public class ClipConfigTests
{
    [Fact]
    public void Real_vit_l14_336_config_reads_with_hf_values()
    {
        var c = ClipTestConfigs.ClipVitL14_336();
        Assert.Equal(1024, c.VisionConfig.HiddenSize);
        Assert.Equal(24, c.VisionConfig.NumHiddenLayers);
        Assert.Equal(14, c.VisionConfig.PatchSize);
        Assert.Equal(336, c.VisionConfig.ImageSize);
        Assert.Equal(576, c.VisionConfig.NumPatches);
        Assert.Equal(577, c.VisionConfig.NumPositions);
        Assert.Equal("quick_gelu", c.VisionConfig.HiddenAct);
        Assert.Equal(768, c.TextConfig.HiddenSize);
        Assert.Equal(77, c.TextConfig.MaxPositionEmbeddings);
        Assert.True(c.TextConfig.LegacyEosPooling);
        Assert.Equal(768, c.ProjectionDim);
        Assert.Equal(2.6592, c.LogitScaleInitValue);
    }

    [Fact]
    public void Missing_keys_take_hf_defaults_and_dict_sections_win()
    {
        using var doc = JsonDocument.Parse("""
            { "text_config": {"hidden_size": 64, "num_attention_heads": 4},
              "vision_config_dict": {"hidden_size": 48, "num_attention_heads": 4, "image_size": 32, "patch_size": 16},
              "vision_config": {"hidden_size": 999} }
            """);
        var c = ClipConfig.FromJson(doc.RootElement);
        Assert.Equal(64, c.TextConfig.HiddenSize);
        Assert.Equal(49408, c.TextConfig.VocabSize);
        Assert.Equal(49407, c.TextConfig.EosTokenId);
        Assert.False(c.TextConfig.LegacyEosPooling);
        Assert.Equal(48, c.VisionConfig.HiddenSize);
        Assert.Equal(5, c.VisionConfig.NumPositions);
        Assert.Equal(512, c.ProjectionDim);
    }

    [Fact]
    public void Round_trips_through_its_own_json()
    {
        var c = ClipTestConfigs.ClipVitL14_336();
        using var doc = JsonDocument.Parse(c.ToJson());
        var back = ClipConfig.FromJson(doc.RootElement);
        Assert.Equal(c.TextConfig, back.TextConfig);
        Assert.Equal(c.VisionConfig, back.VisionConfig);
        Assert.Equal(c.ProjectionDim, back.ProjectionDim);
        Assert.Equal(c.LogitScaleInitValue, back.LogitScaleInitValue);
    }

    [Theory]
    [InlineData("""{"vision_config": {"hidden_size": 30, "num_attention_heads": 4}}""", "vision_config.hidden_size")]
    [InlineData("""{"vision_config": {"image_size": 30, "patch_size": 14}}""", "patch_size")]
    [InlineData("""{"text_config": {"hidden_act": "swish2"}}""", "text_config.hidden_act")]
    [InlineData("""{"text_config": {"num_hidden_layers": 0}}""", "text_config.num_hidden_layers")]
    public void Invalid_configs_name_the_key(string json, string key)
    {
        using var doc = JsonDocument.Parse(json);
        var ex = Assert.Throws<ArgumentException>(() => ClipConfig.FromJson(doc.RootElement));
        Assert.Contains(key, ex.Message);
    }

    [Fact]
    public void Missing_and_corrupt_files_name_the_file()
    {
        string dir = Path.Combine(Path.GetTempPath(), "csr-clipcfg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var nf = Assert.Throws<FileNotFoundException>(() => ClipConfig.FromFile(dir));
            Assert.Contains("config.json", nf.Message);
            File.WriteAllText(Path.Combine(dir, "config.json"), "{ not json");
            var bad = Assert.Throws<InvalidDataException>(() => ClipConfig.FromFile(dir));
            Assert.Contains(Path.Combine(dir, "config.json"), bad.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Library_tiny_config_is_valid_and_small()
    {
        var c = ClipConfig.Tiny();
        Assert.Equal(17, c.VisionConfig.NumPositions); // (32 / 8)^2 + 1
        Assert.True(ClipStateDictLayout.ParameterCount(ClipStateDictLayout.Model(c)) < 200_000);
    }
}
