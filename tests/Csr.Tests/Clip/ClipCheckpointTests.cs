using Csr.Models.Clip;
using Csr.Models.IO;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Tests.Clip;

public sealed class ClipCheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "csr-clipckpt-" + Guid.NewGuid().ToString("N"));

    public ClipCheckpointTests()
    {
        TorchRuntime.EnsureInitialised();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Save_then_load_reproduces_the_logits_bit_for_bit()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(21);
        using var a = new ClipModel(ClipTestConfigs.Tiny());
        a.eval();
        a.SavePretrained(_dir, maxShardBytes: 20_000); // several shards + index
        Assert.True(File.Exists(Path.Combine(_dir, "model.safetensors.index.json")));
        using var b = ClipModel.FromPretrained(_dir);
        var px = randn(2, 3, 12, 12);
        var ids = tensor(new long[] { 0, 4, 9, 2, 1, 0, 7, 2, 1, 1 }).view(2, 5);
        var mask = ids.ne(1).to(ScalarType.Int64);
        Assert.True(a.LogitsPerImage(px, ids, mask).equal(b.LogitsPerImage(px, ids, mask)).all().item<bool>());
        Assert.Equal(a.Config.TextConfig, b.Config.TextConfig);
    }

    [Fact]
    public void Old_position_ids_buffers_are_skipped_but_other_extra_keys_fail_by_name()
    {
        using var scope = NewDisposeScope();
        using var a = new ClipModel(ClipTestConfigs.Tiny());
        var tensors = a.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
        tensors.Add(("text_model.embeddings.position_ids", arange(10, dtype: ScalarType.Int64).view(1, 10)));
        tensors.Add(("vision_model.embeddings.position_ids", arange(10, dtype: ScalarType.Int64).view(1, 10)));
        CheckpointWriter.Save(tensors, _dir, textFiles: new Dictionary<string, string> { ["config.json"] = a.Config.ToJson() });
        using var b = ClipModel.FromPretrained(_dir);
        Assert.True(a.text_projection.weight!.equal(b.text_projection.weight!).all().item<bool>());

        string dir2 = Path.Combine(_dir, "extra");
        tensors.Add(("vision_model.encoder.layers.9.mlp.fc1.weight", zeros(2, 2)));
        CheckpointWriter.Save(tensors, dir2, textFiles: new Dictionary<string, string> { ["config.json"] = a.Config.ToJson() });
        var ex = Assert.Throws<InvalidDataException>(() => ClipModel.FromPretrained(dir2));
        Assert.Contains("vision_model.encoder.layers.9.mlp.fc1.weight", ex.Message);
    }
}
