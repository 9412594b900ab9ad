using Csr.Models.Llama;
using Csr.Models.Lora;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

public class LoraTests
{
    public LoraTests() => TorchRuntime.EnsureInitialised();

    private static void RandomiseB(nn.Module m, long seed)
    {
        var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, p) in LoraInjector.LoraParameters(m))
            if (name.EndsWith("lora_B.weight")) p.normal_(0, 0.1, g);
    }

    [Fact]
    public void Attach_adds_peft_keys_and_zero_B_gives_base_logits_exactly()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        var ids = TinyLlama.RandomIds(new Generator(1), 2, 5, m.VocabSize);
        var baseLogits = m.ForwardIds(ids);
        var paths = LoraInjector.Attach(m, 4, 8, 0.05, LoraInjector.LlamaTargets, new Generator(2));
        Assert.Equal(2 * 7, paths.Count);
        var keys = m.state_dict().Keys.ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.lora_A.weight", keys);
        Assert.Contains("model.layers.1.mlp.down_proj.lora_B.weight", keys);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("lm_head.lora"));
        var qa = LoraInjector.Enumerate(m).First(x => x.Path == "model.layers.0.self_attn.q_proj").Module;
        Assert.Equal(new long[] { 4, 32 }, qa.lora_A!.weight!.shape);
        Assert.Equal(new long[] { 32, 4 }, qa.lora_B!.weight!.shape);
        Assert.Equal(2.0, qa.Scaling);
        Assert.Equal(2 * 7 * 2, LoraInjector.LoraParameters(m).Count);
        Assert.True(baseLogits.equal(m.ForwardIds(ids)).all().item<bool>(), "B = 0 must leave logits bit-identical");
    }

    [Fact]
    public void Disabled_lora_equals_base_and_merged_equals_unmerged()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        var ids = TinyLlama.RandomIds(new Generator(3), 2, 5, m.VocabSize);
        var baseLogits = m.ForwardIds(ids);
        LoraInjector.Attach(m, 4, 8, 0.0, null, new Generator(4));
        RandomiseB(m, 5);
        var loraLogits = m.ForwardIds(ids);
        Assert.True((loraLogits - baseLogits).abs().max().item<float>() > 1e-3, "the adapter must change the logits");
        LoraInjector.SetEnabled(m, false);
        Assert.True(baseLogits.equal(m.ForwardIds(ids)).all().item<bool>(), "LoraEnabled=false must give the base logits exactly");
        LoraInjector.SetEnabled(m, true);
        Assert.Equal(14, LoraInjector.MergeAll(m));
        Assert.Empty(LoraInjector.LoraParameters(m));
        Assert.DoesNotContain(m.state_dict().Keys, k => k.Contains("lora"));
        TinyLlama.AssertClose(loraLogits, m.ForwardIds(ids), 1e-4, 1e-4, "merged vs unmerged");
    }

    [Fact]
    public void Dropout_is_active_only_in_training_mode()
    {
        using var scope = NewDisposeScope();
        var lin = new LoraLinear(16, 8, false, ScalarType.Float32, new Generator(1));
        lin.AttachLora(4, 4, 0.5, new Generator(2));
        using (no_grad()) lin.lora_B!.weight!.normal_(0, 1, new Generator(3));
        var x = randn(new long[] { 64, 16 }, generator: new Generator(4));
        lin.eval();
        var e1 = lin.forward(x);
        Assert.True(e1.equal(lin.forward(x)).all().item<bool>(), "eval mode must be deterministic");
        var expected = x.matmul(lin.MergedWeight().t());
        TinyLlama.AssertClose(expected, e1, 1e-5, 1e-4, "eval = merged weight");
        lin.train();
        Assert.False(lin.forward(x).equal(lin.forward(x)).all().item<bool>(), "training mode must apply dropout");
    }

    [Fact]
    public void Attach_validates_and_filters_by_suffix()
    {
        using var m = TinyLlama.Create();
        var paths = LoraInjector.Attach(m, 2, 4, 0, new[] { "q_proj", "self_attn.v_proj" });
        Assert.Equal(new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                             "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj" }, paths);
        Assert.Throws<ArgumentException>(() => LoraInjector.Attach(m, 2, 4, 0, new[] { "nothing" }));
        Assert.Throws<InvalidOperationException>(() => LoraInjector.Attach(m, 2, 4, 0, new[] { "q_proj" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LoraInjector.Attach(m, 0, 4, 0, new[] { "k_proj" }));
    }
}
