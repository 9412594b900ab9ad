using Csr.Models.Clip;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Tests.Clip;

public class ClipStateDictTests
{
    public ClipStateDictTests() => TorchRuntime.EnsureInitialised();

    private static void AssertModuleMatchesLayout(nn.Module module, IEnumerable<(string Key, long[] Shape)> layout)
    {
        var expected = layout.ToDictionary(kv => kv.Key, kv => kv.Shape);
        var actual = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        var missing = expected.Keys.Except(actual.Keys).ToList();
        var extra = actual.Keys.Except(expected.Keys).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"missing: {string.Join(", ", missing.Take(5))}; unexpected: {string.Join(", ", extra.Take(5))}");
        foreach (var (k, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[k]), $"{k}: layout [{string.Join(",", shape)}] vs module [{string.Join(",", actual[k])}]");
    }

    [Fact]
    public void Tiny_clip_model_has_exactly_the_layout_keys_and_shapes()
    {
        using var m = new ClipModel(ClipTestConfigs.Tiny());
        AssertModuleMatchesLayout(m, ClipStateDictLayout.Model(m.Config));
    }

    [Fact]
    public void Tiny_clip_vision_model_keys_are_prefixed_with_vision_model()
    {
        var vc = ClipTestConfigs.TinyVision();
        using var m = new ClipVisionModel(vc);
        AssertModuleMatchesLayout(m, ClipStateDictLayout.VisionTransformer(vc, "vision_model."));
    }

    [Fact]
    public void Vit_l14_336_layout_has_hf_key_names_and_shapes()
    {
        var layout = ClipStateDictLayout.Model(ClipTestConfigs.ClipVitL14_336()).ToDictionary(kv => kv.Key, kv => kv.Shape);
        // 1 logit_scale + text (2 + 12*16 + 2) + vision (5 + 24*16 + 2) + 2 projections
        Assert.Equal(1 + 196 + 391 + 2, layout.Count);
        Assert.Equal(new long[] { 1024 }, layout["vision_model.embeddings.class_embedding"]);
        Assert.Equal(new long[] { 1024, 3, 14, 14 }, layout["vision_model.embeddings.patch_embedding.weight"]);
        Assert.Equal(new long[] { 577, 1024 }, layout["vision_model.embeddings.position_embedding.weight"]);
        Assert.Equal(new long[] { 1024 }, layout["vision_model.pre_layrnorm.weight"]);
        Assert.Equal(new long[] { 4096, 1024 }, layout["vision_model.encoder.layers.23.mlp.fc1.weight"]);
        Assert.Equal(new long[] { 1024, 1024 }, layout["vision_model.encoder.layers.0.self_attn.q_proj.weight"]);
        Assert.Equal(new long[] { 1024 }, layout["vision_model.post_layernorm.bias"]);
        Assert.Equal(new long[] { 49408, 768 }, layout["text_model.embeddings.token_embedding.weight"]);
        Assert.Equal(new long[] { 77, 768 }, layout["text_model.embeddings.position_embedding.weight"]);
        Assert.Equal(new long[] { 768 }, layout["text_model.final_layer_norm.weight"]);
        Assert.Equal(new long[] { 768, 1024 }, layout["visual_projection.weight"]);
        Assert.Equal(new long[] { 768, 768 }, layout["text_projection.weight"]);
        Assert.Empty(layout["logit_scale"]);
        Assert.DoesNotContain("vision_model.encoder.layers.24.mlp.fc1.weight", layout.Keys);
        Assert.DoesNotContain("text_model.embeddings.position_ids", layout.Keys);
    }

    [Fact]
    public void Vit_l14_224_parameter_count_equals_the_published_count()
    {
        // openai/clip-vit-large-patch14 (224 px) has 427,616,513 parameters; the 336 px model adds
        // (577 - 257) * 1024 position embeddings.
        var c224 = ClipTestConfigs.ClipVitL14_336();
        c224 = c224 with { VisionConfig = c224.VisionConfig with { ImageSize = 224 } };
        Assert.Equal(427_616_513L, ClipStateDictLayout.ParameterCount(ClipStateDictLayout.Model(c224)));
        Assert.Equal(427_616_513L + 320 * 1024,
            ClipStateDictLayout.ParameterCount(ClipStateDictLayout.Model(ClipTestConfigs.ClipVitL14_336())));
    }

    [Fact]
    public void Position_ids_buffers_of_old_checkpoints_are_ignorable_and_nothing_else()
    {
        Assert.True(ClipModel.IsIgnorableCheckpointKey("text_model.embeddings.position_ids"));
        Assert.True(ClipModel.IsIgnorableCheckpointKey("vision_model.embeddings.position_ids"));
        Assert.False(ClipModel.IsIgnorableCheckpointKey("vision_model.embeddings.position_embedding.weight"));
    }
}
