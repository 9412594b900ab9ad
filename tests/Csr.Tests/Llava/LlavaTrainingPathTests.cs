using Csr.Models.Llama;
using Csr.Models.Llava;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llava;

public class LlavaTrainingPathTests
{
    public LlavaTrainingPathTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Frozen_tower_gets_no_gradient_while_the_projector_does()
    {
        using var scope = NewDisposeScope();
        using var m = new LlavaForConditionalGeneration(LlavaTestConfigs.Tiny(), ScalarType.Float32, new Generator(7));
        foreach (var p in m.vision_tower.parameters()) p.requires_grad = false;
        var px = randn(1, 3, 12, 12);
        var ids = tensor(m.ExpandImageTokens(new[] { 1, 63, 5 }).Select(i => (long)i).ToArray()).view(1, -1);
        var logits = m.Forward(m.EmbedInputs(ids, m.EncodeImages(px)), ones_like(ids), null);
        logits.select(1, -1).logsumexp(-1).sum().backward();
        Assert.NotNull(m.multi_modal_projector.linear_1.weight!.grad);
        Assert.True(m.multi_modal_projector.linear_1.weight!.grad!.abs().sum().item<float>() > 0);
        Assert.All(m.vision_tower.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Trainable_tower_receives_gradients()
    {
        using var scope = NewDisposeScope();
        using var m = new LlavaForConditionalGeneration(LlavaTestConfigs.Tiny(), ScalarType.Float32, new Generator(8));
        var feats = m.EncodeImages(randn(1, 3, 12, 12));
        feats.pow(2).sum().backward();
        var g = m.vision_tower.vision_model.encoder.layers[0].mlp.fc1.weight!.grad;
        Assert.NotNull(g);
        Assert.True(g!.abs().sum().item<float>() > 0);
        // layer -2 is the output of the second-to-last layer: the last layer takes no part
        Assert.Null(m.vision_tower.vision_model.encoder.layers[2].mlp.fc1.weight!.grad);
    }

    [Fact]
    public void Library_tiny_config_builds_a_consistent_model()
    {
        var c = LlavaConfig.Tiny(LlamaConfig.Tiny(vocab: 80), imageTokenIndex: 79, imageSize: 16, patchSize: 4);
        Assert.Equal(16, c.ImageSeqLength);
        Assert.Equal(16, c.FeaturesPerImage);
        using var m = new LlavaForConditionalGeneration(c, ScalarType.Float32, new Generator(9));
        using var scope = NewDisposeScope();
        Assert.Equal(new long[] { 2, 16, 32 }, m.EncodeImages(randn(2, 3, 16, 16)).shape);
    }
}
