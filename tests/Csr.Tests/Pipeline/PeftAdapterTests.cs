using Csr.Models.IO;
using Csr.Models.Llama;
using Csr.Models.Lora;
using Csr.Native;
using Csr.Train.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

public class PeftAdapterTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-peft-").FullName;

    public PeftAdapterTests() => TorchRuntime.EnsureInitialised();

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly LlamaConfig Tiny = new()
    {
        VocabSize = 37, HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2, MaxPositionEmbeddings = 64,
    };

    static LlamaForCausalLM Base()
    {
        var m = new LlamaForCausalLM(Tiny, init: new Generator(11));
        m.eval(); // no LoRA dropout in comparisons
        return m;
    }

    static Tensor Ids() => tensor(new long[] { 1, 5, 9, 3, 30, 7 }).unsqueeze(0);

    static Tensor Logits(LlamaForCausalLM m) { using var _ = no_grad(); return m.ForwardIds(Ids()); }

    static void RandomiseB(nn.Module m, int seed)
    {
        var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, l) in LoraInjector.Enumerate(m)) l.lora_B!.weight!.normal_(0, 0.05, g);
    }

    [Fact]
    public void LoraWithZeroB_GivesExactlyTheBaseLogits()
    {
        var m = Base();
        var before = Logits(m);
        LoraInjector.Attach(m, 4, 8, 0.0, LoraInjector.LlamaTargets, new Generator(1));
        Assert.Equal(before.data<float>().ToArray(), Logits(m).data<float>().ToArray());
    }

    [Fact]
    public void MergedModel_EqualsBasePlusAdapter()
    {
        var m = Base();
        LoraInjector.Attach(m, 4, 8, 0.0, LoraInjector.LlamaTargets, new Generator(1));
        RandomiseB(m, 2);
        var withAdapter = Logits(m);
        Assert.False(allclose(withAdapter, Logits(Base()), 1e-4, 1e-4)); // the adapter changes the model
        Assert.Equal(14, LoraInjector.MergeAll(m));
        Assert.True(allclose(withAdapter, Logits(m), 1e-5, 1e-5));
        Assert.DoesNotContain(m.state_dict().Keys, k => k.Contains("lora_"));
    }

    [Fact]
    public void PeftLayout_RoundTrips()
    {
        var m = Base();
        var targets = LoraInjector.LlamaTargets;
        LoraInjector.Attach(m, 4, 8, 0.05, targets, new Generator(1));
        m.eval();
        RandomiseB(m, 3);
        var expected = Logits(m);
        var cfg = new PeftAdapterConfig { R = 4, LoraAlpha = 8, LoraDropout = 0.05, TargetModules = targets.ToList(), BaseModelNameOrPath = "tiny" };
        var proj = randn(3, 2);
        PeftAdapter.Save(m, _dir, cfg, [("multi_modal_projector.linear_1.weight", proj)]);

        using (var st = SafeTensorsFile.Open(Path.Combine(_dir, PeftAdapter.WeightsFile)))
        {
            Assert.Equal(28, st.Keys.Count());
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", st.Keys);
            Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", st.Keys);
        }
        var json = File.ReadAllText(Path.Combine(_dir, PeftAdapter.ConfigFile));
        foreach (var k in new[] { "\"r\": 4", "\"lora_alpha\": 8", "\"peft_type\": \"LORA\"", "\"task_type\": \"CAUSAL_LM\"", "\"target_modules\"", "\"base_model_name_or_path\": \"tiny\"" })
            Assert.Contains(k, json);

        var fresh = Base();
        var (back, nonLora) = PeftAdapter.Load(fresh, _dir);
        Assert.Equal(4, back.R);
        Assert.True(allclose(expected, Logits(fresh), 1e-6, 1e-6));
        Assert.Equal(proj.data<float>().ToArray(), nonLora["multi_modal_projector.linear_1.weight"].data<float>().ToArray());
    }

    [Fact]
    public void Load_RejectsUnexpectedKeys_NamingFileAndKey()
    {
        var m = Base();
        LoraInjector.Attach(m, 4, 8, 0.0, ["q_proj"], new Generator(1));
        PeftAdapter.Save(m, _dir, new PeftAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj"] });
        var ex = Assert.Throws<InvalidDataException>(() => LoadWithTargets(["k_proj"]));
        Assert.Contains(PeftAdapter.WeightsFile, ex.Message);
        Assert.Contains("q_proj.lora_A.weight", ex.Message);
    }

    object LoadWithTargets(string[] targets)
    {
        var cfgPath = Path.Combine(_dir, PeftAdapter.ConfigFile);
        var cfg = PeftAdapterConfig.FromFile(cfgPath) with { TargetModules = targets };
        File.WriteAllText(cfgPath, cfg.ToJson());
        return PeftAdapter.Load(Base(), _dir);
    }
}
