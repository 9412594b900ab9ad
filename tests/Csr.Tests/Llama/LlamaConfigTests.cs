using Csr.Models.Llama;

namespace Csr.Tests.Llama;

public class LlamaConfigTests
{
    [Fact]
    public void Json_round_trip_keeps_every_field_including_rope_scaling_and_eos_list()
    {
        var json = """
        {"vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 8,
         "num_key_value_heads": 2, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
         "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 256},
         "hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": [2, 7], "torch_dtype": "bfloat16"}
        """;
        var c = LlamaConfig.FromJson(json);
        Assert.Equal(2, c.KvHeads);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal("llama3", c.RopeScaling!.Kind);
        Assert.Equal(new[] { 2, 7 }, c.EosTokenIds);
        Assert.Equal(2, c.EosTokenId);
        var back = LlamaConfig.FromJson(c.ToJson());
        Assert.Equal(c.ToJson(), back.ToJson());
        Assert.Equal(c.RopeScaling, back.RopeScaling);
        Assert.Equal(c with { EosTokenIds = null }, back with { EosTokenIds = null });
        Assert.Equal(c.EosTokenIds, back.EosTokenIds);
        Assert.Contains("\"rope_theta\": 500000", c.ToJson());
    }

    [Fact]
    public void Older_type_key_and_single_eos_are_read()
    {
        var c = LlamaConfig.FromJson("""{"rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": 2, "num_attention_heads": 32}""");
        Assert.Equal("linear", c.RopeScaling!.Kind);
        Assert.Equal(new[] { 2 }, c.EosTokenIds);
        Assert.Equal(32, c.KvHeads); // defaults to num_attention_heads
    }

    [Theory]
    [InlineData("""{"hidden_size": 100, "num_attention_heads": 32}""", "divisible by 'num_attention_heads'")]
    [InlineData("""{"num_attention_heads": 32, "num_key_value_heads": 5}""", "'num_key_value_heads' (5)")]
    [InlineData("""{"vocab_size": 0}""", "'vocab_size' must be > 0")]
    [InlineData("""{"hidden_act": "gelu"}""", "'hidden_act' 'gelu'")]
    [InlineData("""{"rope_scaling": {"type": "yarn", "factor": 2.0}}""", "'yarn' is not supported")]
    [InlineData("""{"rope_scaling": {"type": "llama3", "factor": 2.0}}""", "low_freq_factor")]
    [InlineData("""{"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "pad_token_id": 10}""", "'pad_token_id' 10")]
    [InlineData("""{"hidden_size": "x"}""", "invalid Llama config")]
    public void Invalid_configs_fail_with_the_key_named(string json, string expected)
    {
        var ex = Assert.Throws<InvalidDataException>(() => LlamaConfig.FromJson(json, "cfg.json"));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("cfg.json", ex.Message);
    }

    [Fact]
    public void Missing_file_is_file_not_found_with_the_path()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => LlamaConfig.FromFile("/nonexistent/config.json"));
        Assert.Contains("/nonexistent/config.json", ex.Message);
    }
}
