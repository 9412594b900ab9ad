using Csr.Models.Clip;
using Csr.Models.Llava;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llava;

public class LlavaModelTests
{
    public LlavaModelTests() => TorchRuntime.EnsureInitialised();

    private static LlavaForConditionalGeneration Create(LlavaConfig? c = null, ulong seed = 1)
    {
        var m = new LlavaForConditionalGeneration(c ?? LlavaTestConfigs.Tiny(), ScalarType.Float32, new Generator(seed));
        m.eval();
        return m;
    }

    private static float[] F(Tensor t) => t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();

    private static void Close(Tensor expected, Tensor actual, double tol = 1e-5, string what = "")
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = F(expected);
        var a = F(actual);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= tol + 1e-4 * Math.Abs(e[i]), $"{what} mismatch at {i}: expected {e[i]}, got {a[i]}");
    }

    [Fact]
    public void Tiny_model_state_dict_equals_the_layout()
    {
        using var m = Create();
        var expected = LlavaStateDictLayout.Model(m.Config).ToDictionary(kv => kv.Key, kv => kv.Shape);
        var actual = m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), actual.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, s) in expected) Assert.True(s.SequenceEqual(actual[k]), k);
        Assert.Contains("vision_tower.vision_model.pre_layrnorm.weight", actual.Keys);
        Assert.Contains("language_model.model.layers.1.self_attn.q_proj.weight", actual.Keys);
        Assert.Contains("language_model.lm_head.weight", actual.Keys);
    }

    [Fact]
    public void Llava_15_7b_layout_has_the_published_shapes_and_size()
    {
        var c = LlavaTestConfigs.Llava15_7b();
        var layout = LlavaStateDictLayout.Model(c).ToDictionary(kv => kv.Key, kv => kv.Shape);
        Assert.Equal(new long[] { 4096, 1024 }, layout["multi_modal_projector.linear_1.weight"]);
        Assert.Equal(new long[] { 4096 }, layout["multi_modal_projector.linear_1.bias"]);
        Assert.Equal(new long[] { 4096, 4096 }, layout["multi_modal_projector.linear_2.weight"]);
        Assert.Equal(new long[] { 577, 1024 }, layout["vision_tower.vision_model.embeddings.position_embedding.weight"]);
        Assert.Equal(new long[] { 1024, 3, 14, 14 }, layout["vision_tower.vision_model.embeddings.patch_embedding.weight"]);
        Assert.Equal(new long[] { 32064, 4096 }, layout["language_model.model.embed_tokens.weight"]);
        Assert.Equal(new long[] { 32064, 4096 }, layout["language_model.lm_head.weight"]);
        Assert.Equal(new long[] { 11008, 4096 }, layout["language_model.model.layers.31.mlp.gate_proj.weight"]);
        Assert.Equal(new long[] { 4096, 4096 }, layout["language_model.model.layers.0.self_attn.k_proj.weight"]);
        Assert.Contains("vision_tower.vision_model.encoder.layers.23.layer_norm2.bias", layout.Keys);
        Assert.Contains("vision_tower.vision_model.post_layernorm.weight", layout.Keys);
        // vision 391 + projector 4 + llama (embed + 32 * 9 + norm + lm_head)
        Assert.Equal(391 + 4 + 1 + 32 * 9 + 2, layout.Count);
        // llava-1.5-7b-hf: 7,063,427,072 parameters (Llama-2-7B with 32064 tokens + ViT-L/14-336 vision + projector)
        Assert.Equal(7_063_427_072L, ClipStateDictLayout.ParameterCount(LlavaStateDictLayout.Model(c)));
    }

    [Fact]
    public void Encode_images_is_projector_of_layer_minus_2_without_the_class_token()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        random.manual_seed(2);
        var px = randn(2, 3, 12, 12);
        var feats = m.EncodeImages(px);
        Assert.Equal(new long[] { 2, 9, 32 }, feats.shape);
        var all = m.vision_tower.HiddenStates(px);
        var sel = all[^2].narrow(1, 1, 9);
        var p = m.multi_modal_projector;
        // GELU (erf) written out: 0.5 x (1 + erf(x / sqrt 2))
        var h1 = p.linear_1.forward(sel);
        var act = 0.5 * h1 * (1 + special.erf(h1 / Math.Sqrt(2)));
        Close(p.linear_2.forward(act), feats, what: "projector");
    }

    [Fact]
    public void Full_strategy_and_layer_lists_keep_the_class_token_and_concatenate()
    {
        using var scope = NewDisposeScope();
        using var m = Create(LlavaTestConfigs.Tiny("full", new[] { -2, 0 }));
        random.manual_seed(3);
        var px = randn(1, 3, 12, 12);
        var feats = m.EncodeImages(px);
        Assert.Equal(new long[] { 1, 10, 32 }, feats.shape);
        var all = m.vision_tower.HiddenStates(px);
        Close(m.multi_modal_projector.forward(cat(new[] { all[^2], all[0] }, -1)), feats, what: "full");
    }

    [Fact]
    public void Image_features_land_exactly_at_the_image_token_positions()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        int img = m.Config.ImageTokenIndex, n = m.Config.ImageSeqLength;
        // row 0: 2 text tokens, 9 image tokens, 3 text tokens; row 1: 5 text, 9 image
        var row0 = new[] { 5, 6 }.Concat(Enumerable.Repeat(img, n)).Concat(new[] { 7, 8, 9 }).ToArray();
        var row1 = new[] { 10, 11, 12, 13, 14 }.Concat(Enumerable.Repeat(img, n)).ToArray();
        var ids = tensor(row0.Concat(row1).Select(i => (long)i).ToArray()).view(2, 14);
        var features = randn(2, n, 32);
        var e = m.EmbedInputs(ids, features);
        Assert.Equal(new long[] { 2, 14, 32 }, e.shape);
        var table = m.language_model.model.embed_tokens.weight!;
        for (int t = 0; t < 14; t++)
        {
            Close(row0[t] == img ? features[0, t - 2] : table[row0[t]], e[0, t], 0, $"row 0 pos {t}");
            Close(row1[t] == img ? features[1, t - 5] : table[row1[t]], e[1, t], 0, $"row 1 pos {t}");
        }
    }

    [Fact]
    public void Batched_splice_and_forward_equal_one_by_one()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        random.manual_seed(4);
        var px = randn(2, 3, 12, 12);
        var prompt = new[] { 1, 5, 63, 6, 7 };
        var ids1 = m.ExpandImageTokens(prompt);
        Assert.Equal(4 + 9, ids1.Length);
        var ids = tensor(ids1.Concat(ids1).Select(i => (long)i).ToArray()).view(2, ids1.Length);
        var mask = ones(2, ids1.Length, dtype: ScalarType.Int64);
        var batched = m.Forward(m.EmbedInputs(ids, m.EncodeImages(px)), mask, null);
        for (int b = 0; b < 2; b++)
        {
            var one = m.Forward(m.EmbedInputs(ids.narrow(0, b, 1), m.EncodeImages(px.narrow(0, b, 1))), mask.narrow(0, b, 1), null);
            Close(one, batched.narrow(0, b, 1), 1e-5, $"sample {b}");
        }
        // different images give different logits at the last position
        Assert.True((batched[0, -1] - batched[1, -1]).abs().max().item<float>() > 1e-4);
        Assert.Equal(new long[] { 2, ids1.Length, 64 }, batched.shape);
    }

    [Fact]
    public void Forward_delegates_to_the_language_model()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        var ids = tensor(new long[] { 1, 5, 9, 11 }).view(1, 4);
        var mask = ones(1, 4, dtype: ScalarType.Int64);
        var e = m.EmbedInputs(ids, null);
        Close(m.language_model.Embed(ids), e, 0, "embed");
        Close(m.language_model.Forward(e, mask, null), m.Forward(e, mask, null), 0, "logits");
        Assert.Equal(64, m.VocabSize);
        Assert.Equal(m.Config.TextConfig.NumHiddenLayers, m.NewCache().NumLayers);
    }

    [Fact]
    public void Token_feature_count_mismatch_is_an_error_with_both_counts()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        var ids = tensor(new long[] { 1, 63, 63, 5 }).view(1, 4);
        var ex = Assert.Throws<ArgumentException>(() => m.EmbedInputs(ids, randn(1, 9, 32)));
        Assert.Contains("2 image tokens", ex.Message);
        Assert.Contains("9 image feature rows", ex.Message);
        var ex2 = Assert.Throws<ArgumentException>(() => m.EmbedInputs(ids, null));
        Assert.Contains("no image features", ex2.Message);
    }

    [Fact]
    public void Decoding_after_an_image_prefill_with_the_cache_equals_recomputing()
    {
        using var scope = NewDisposeScope();
        using var m = Create();
        random.manual_seed(13);
        var px = randn(1, 3, 12, 12);
        var prompt = m.ExpandImageTokens(new[] { 1, 5, 63, 6 }).Select(i => (long)i).ToArray();
        var next = new long[] { 9, 17 };
        var feats = m.EncodeImages(px);
        var full = tensor(prompt.Concat(next).ToArray()).view(1, -1);
        var recompute = m.Forward(m.EmbedInputs(full, feats), ones_like(full), null); // [1, T+2, V]

        using var cache = m.NewCache();
        var p = tensor(prompt).view(1, -1);
        var prefill = m.Forward(m.EmbedInputs(p, feats), ones_like(p), cache);
        Close(recompute.narrow(1, 0, prompt.Length), prefill, 1e-5, "prefill");
        for (int k = 0; k < next.Length; k++)
        {
            var step = m.Forward(m.Embed(tensor(new[] { next[k] }).view(1, 1)), ones(1, prompt.Length + k + 1, dtype: ScalarType.Int64), cache);
            Close(recompute.narrow(1, prompt.Length + k, 1), step, 1e-5, $"step {k}");
        }
    }
}
