using Csr.Models.IO;
using Csr.Models.Llava;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llava;

public sealed class LlavaCheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "csr-llavackpt-" + Guid.NewGuid().ToString("N"));

    public LlavaCheckpointTests()
    {
        TorchRuntime.EnsureInitialised();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Save_then_load_gives_the_same_logits_in_both_llava_hf_namings()
    {
        using var scope = NewDisposeScope();
        using var a = new LlavaForConditionalGeneration(LlavaTestConfigs.Tiny(), ScalarType.Float32, new Generator(5));
        a.eval();
        a.SavePretrained(_dir, maxShardBytes: 50_000);
        using var b = LlavaForConditionalGeneration.FromPretrained(_dir);

        // newer transformers naming, plus the position_ids buffer older conversions carry
        string newer = Path.Combine(_dir, "newer");
        var renamed = a.state_dict().Select(kv => (Name: kv.Key switch
        {
            var k when k.StartsWith("language_model.model.") => "model.language_model." + k["language_model.model.".Length..],
            var k when k.StartsWith("language_model.lm_head.") => k["language_model.".Length..],
            var k => "model." + k,
        }, Tensor: kv.Value)).ToList();
        renamed.Add(("model.vision_tower.vision_model.embeddings.position_ids", arange(10, dtype: ScalarType.Int64).view(1, 10)));
        CheckpointWriter.Save(renamed, newer, textFiles: new Dictionary<string, string> { ["config.json"] = a.Config.ToJson() });
        using var c = LlavaForConditionalGeneration.FromPretrained(newer);

        var px = randn(1, 3, 12, 12);
        var ids = tensor(a.ExpandImageTokens(new[] { 1, 5, 63, 7 }).Select(i => (long)i).ToArray()).view(1, -1);
        var mask = ones_like(ids);
        Tensor Logits(LlavaForConditionalGeneration m) => m.Forward(m.EmbedInputs(ids, m.EncodeImages(px)), mask, null);
        var la = Logits(a);
        Assert.True(la.equal(Logits(b)).all().item<bool>());
        Assert.True(la.equal(Logits(c)).all().item<bool>());
    }

    [Fact]
    public void Bf16_load_gives_bf16_weights_close_to_fp32()
    {
        using var scope = NewDisposeScope();
        using var a = new LlavaForConditionalGeneration(LlavaTestConfigs.Tiny(), ScalarType.Float32, new Generator(6));
        a.eval();
        a.SavePretrained(_dir);
        using var b = LlavaForConditionalGeneration.FromPretrained(_dir, ScalarType.BFloat16);
        Assert.All(b.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        var px = randn(1, 3, 12, 12);
        var fa = a.EncodeImages(px);
        var fb = b.EncodeImages(px).to(ScalarType.Float32);
        double scale = fa.abs().max().item<float>();
        Assert.True((fa - fb).abs().max().item<float>() < 0.05 * scale + 1e-3);
    }
}
