using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

public class LlamaStateDictTests
{
    public LlamaStateDictTests() => TorchRuntime.EnsureInitialised();

    private static List<string> HfKeys(int layers, bool tied)
    {
        var k = new List<string> { "model.embed_tokens.weight" };
        for (int l = 0; l < layers; l++)
        {
            foreach (var p in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) k.Add($"model.layers.{l}.self_attn.{p}.weight");
            foreach (var p in new[] { "gate_proj", "up_proj", "down_proj" }) k.Add($"model.layers.{l}.mlp.{p}.weight");
            k.Add($"model.layers.{l}.input_layernorm.weight");
            k.Add($"model.layers.{l}.post_attention_layernorm.weight");
        }
        k.Add("model.norm.weight");
        if (!tied) k.Add("lm_head.weight");
        return k;
    }

    [Theory]
    [InlineData(false, 2, false)]
    [InlineData(true, 1, false)]
    [InlineData(false, 4, true)]
    public void Module_state_dict_equals_hf_keys_and_static_shapes(bool tied, int kvHeads, bool attnBias)
    {
        var c = LlamaConfig.Tiny() with { TieWordEmbeddings = tied, NumKeyValueHeads = kvHeads, AttentionBias = attnBias };
        using var m = new LlamaForCausalLM(c);
        var sd = m.state_dict();
        var expectedKeys = HfKeys(c.NumHiddenLayers, tied);
        if (attnBias)
            for (int l = 0; l < c.NumHiddenLayers; l++)
                foreach (var p in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) expectedKeys.Add($"model.layers.{l}.self_attn.{p}.bias");
        Assert.Equal(expectedKeys.OrderBy(x => x), sd.Keys.OrderBy(x => x));
        var shapes = LlamaForCausalLM.ParameterShapes(c);
        Assert.Equal(sd.Keys.OrderBy(x => x), shapes.Select(s => s.Key).OrderBy(x => x));
        foreach (var (key, shape) in shapes) Assert.True(shape.SequenceEqual(sd[key].shape), $"{key}: static {string.Join("x", shape)} vs module {string.Join("x", sd[key].shape)}");
        Assert.Equal(c.KvHeads * c.HeadDim, sd["model.layers.0.self_attn.k_proj.weight"].shape[0]);
        if (tied)
        {
            using (no_grad()) m.model.embed_tokens.weight!.fill_(0.5);
            Assert.Equal(0.5f, m.LmHeadWeight[3, 4].item<float>());
        }
    }

    [Fact]
    public void Llava_1_5_7b_text_config_gives_the_known_7b_shapes()
    {
        // llava-hf/llava-1.5-7b-hf text_config (Llama-2-7B sizes, vocab 32064 for the added <image> and pad tokens)
        var json = """
        {"architectures": ["LlamaForCausalLM"], "max_position_embeddings": 4096, "model_type": "llama",
         "rms_norm_eps": 1e-05, "torch_dtype": "float16", "vocab_size": 32064, "hidden_size": 4096,
         "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
         "pad_token_id": 32001, "rope_theta": 10000.0, "tie_word_embeddings": false, "hidden_act": "silu"}
        """;
        var c = LlamaConfig.FromJson(json);
        var shapes = LlamaForCausalLM.ParameterShapes(c, "language_model.");
        Assert.Equal(1 + 32 * 9 + 2, shapes.Count);
        var d = shapes.ToDictionary(s => s.Key, s => s.Shape);
        Assert.Equal(new long[] { 32064, 4096 }, d["language_model.model.embed_tokens.weight"]);
        Assert.Equal(new long[] { 32064, 4096 }, d["language_model.lm_head.weight"]);
        Assert.Equal(new long[] { 4096, 4096 }, d["language_model.model.layers.31.self_attn.k_proj.weight"]);
        Assert.Equal(new long[] { 11008, 4096 }, d["language_model.model.layers.0.mlp.gate_proj.weight"]);
        Assert.Equal(new long[] { 4096, 11008 }, d["language_model.model.layers.17.mlp.down_proj.weight"]);
        Assert.Equal(new long[] { 4096 }, d["language_model.model.layers.3.post_attention_layernorm.weight"]);
        long total = shapes.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b));
        // Llama-2-7B has 6,738,415,616 parameters with vocab 32000; +64 rows in embed and lm_head
        Assert.Equal(6_738_415_616L + 2L * 64 * 4096, total);

        // the same function agrees with a module built from a tiny config of the same structure
        var tiny = c with { VocabSize = 40, HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, PadTokenId = 39 };
        using var m = new LlamaForCausalLM(tiny);
        var sd = m.state_dict();
        var tinyShapes = LlamaForCausalLM.ParameterShapes(tiny);
        Assert.Equal(tinyShapes.Select(s => s.Key).OrderBy(x => x), sd.Keys.OrderBy(x => x));
    }
}

public class LlamaFromPretrainedTests
{
    public LlamaFromPretrainedTests() => Csr.Native.TorchRuntime.EnsureInitialised();

    [Theory]
    [InlineData(false, 1L << 30)]   // single file
    [InlineData(true, 20_000L)]     // tied, sharded with an index
    public void Saved_checkpoint_loads_back_to_identical_logits(bool tied, long shardBytes)
    {
        using var scope = NewDisposeScope();
        var c = LlamaConfig.Tiny() with { TieWordEmbeddings = tied };
        using var m = TinyLlama.Create(c, 31);
        var dir = Path.Combine(Path.GetTempPath(), "csr-llama-" + Guid.NewGuid().ToString("N"));
        try
        {
            Csr.Models.IO.CheckpointWriter.Save(m, dir, shardBytes);
            File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJson());
            using var back = LlamaForCausalLM.FromPretrained(dir);
            var ids = TinyLlama.RandomIds(new Generator(2), 2, 5, c.VocabSize);
            Assert.True(m.ForwardIds(ids).equal(back.ForwardIds(ids)).all().item<bool>());
            // without config.json: FileNotFoundException with the path
            File.Delete(Path.Combine(dir, "config.json"));
            Assert.Throws<FileNotFoundException>(() => LlamaForCausalLM.FromPretrained(dir));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
