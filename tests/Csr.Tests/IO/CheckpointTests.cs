using System.Text.Json;
using Csr.Models.IO;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.IO;

public class CheckpointTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private readonly bool _init = Init();
    private static bool Init() { TorchRuntime.EnsureInitialised(); return true; }

    // The two other naming schemes, written out independently of LlavaKeyMap (canonical -> other).
    private static string ToNewer(string k) =>
        k.StartsWith("language_model.model.") ? "model.language_model." + k["language_model.model.".Length..]
        : k.StartsWith("language_model.lm_head.") ? "lm_head." + k["language_model.lm_head.".Length..]
        : "model." + k; // vision_tower.*, multi_modal_projector.*

    private static string ToOriginal(string k) =>
        k.StartsWith("language_model.model.") ? "model." + k["language_model.model.".Length..]
        : k.StartsWith("language_model.lm_head.") ? "lm_head." + k["language_model.lm_head.".Length..]
        : k.StartsWith("vision_tower.") ? "model.vision_tower." + k
        : k.Replace("multi_modal_projector.linear_1.", "model.mm_projector.0.").Replace("multi_modal_projector.linear_2.", "model.mm_projector.2.");

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Save_then_load_into_a_fresh_module_is_bit_exact(ScalarType dtype)
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1, dtype);
        using var b = new TinyLlava(2, dtype);
        var written = CheckpointWriter.Save(a, dir.Path);
        Assert.Equal(new[] { dir[CheckpointFiles.SingleFileName] }, written);
        var r = CheckpointLoader.LoadInto(b, dir.Path);
        Assert.Equal(a.state_dict().Count, r.Loaded);
        TensorAssert.StatesBitEqual(a, b);
    }

    [Fact]
    public void Sharded_save_has_an_hf_index_and_loads_the_same_as_a_single_file()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        var sharded = Path.Combine(dir.Path, "sharded");
        var single = Path.Combine(dir.Path, "single");
        var written = CheckpointWriter.Save(a, sharded, maxShardBytes: 600,
            textFiles: new Dictionary<string, string> { ["config.json"] = "{\"x\": 1}" });
        CheckpointWriter.Save(a, single);

        var shards = Directory.GetFiles(sharded, "model-*-of-*.safetensors").Select(Path.GetFileName).OrderBy(n => n).ToList();
        Assert.True(shards.Count >= 3, $"expected several shards, got {shards.Count}");
        Assert.Equal(CheckpointWriter.ShardName(1, shards.Count), shards[0]);
        Assert.False(File.Exists(Path.Combine(sharded, CheckpointFiles.SingleFileName)));
        Assert.Equal("{\"x\": 1}", File.ReadAllText(Path.Combine(sharded, "config.json")));
        foreach (var s in shards) Assert.True(new FileInfo(Path.Combine(sharded, s!)).Length < 600 + 1024);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(sharded, CheckpointFiles.IndexFileName)));
        var wm = doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        var state = a.state_dict();
        Assert.Equal(state.Keys.OrderBy(k => k, StringComparer.Ordinal), wm.Keys);
        long total = state.Values.Sum(t => t.numel() * 4);
        Assert.Equal(total, doc.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        foreach (var (k, f) in wm)
            using (var st = SafeTensorsFile.Open(Path.Combine(sharded, f!))) Assert.True(st.Contains(k), $"{k} not in {f}");

        using var fromSharded = new TinyLlava(5);
        using var fromSingle = new TinyLlava(6);
        CheckpointLoader.LoadInto(fromSharded, sharded);
        CheckpointLoader.LoadInto(fromSingle, Path.Combine(single, CheckpointFiles.SingleFileName));
        TensorAssert.StatesBitEqual(fromSingle, fromSharded);
        TensorAssert.StatesBitEqual(a, fromSharded);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Resaving_with_another_layout_removes_the_stale_files()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save(a, dir.Path, maxShardBytes: 600);
        int before = Directory.GetFiles(dir.Path, "model-*").Length;
        CheckpointWriter.Save(a, dir.Path, maxShardBytes: 2000);
        int after = Directory.GetFiles(dir.Path, "model-*").Length;
        Assert.True(after < before && after > 1, $"{before} -> {after} shards");
        CheckpointWriter.Save(a, dir.Path);
        Assert.Empty(Directory.GetFiles(dir.Path, "model-*"));
        Assert.False(File.Exists(dir[CheckpointFiles.IndexFileName]));
        using var b = new TinyLlava(9);
        CheckpointLoader.LoadInto(b, dir.Path);
        TensorAssert.StatesBitEqual(a, b);
    }

    [Fact]
    public void Newer_and_original_llava_names_load_to_the_same_weights_as_the_canonical_names()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1, ScalarType.BFloat16);
        var state = a.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
        CheckpointWriter.Save(state.Select(t => (ToNewer(t.Key), t.Value)), Path.Combine(dir.Path, "newer"), maxShardBytes: 400);
        var inv = ones(4);
        CheckpointWriter.Save(state.Select(t => (ToOriginal(t.Key), t.Value)).Append(("model.layers.0.self_attn.rotary_emb.inv_freq", inv)),
            Path.Combine(dir.Path, "original"));
        Assert.Contains("model.vision_tower.vision_tower.vision_model.embeddings.class_embedding",
            SafeTensorsFile.ReadEntries(Path.Combine(dir.Path, "original", CheckpointFiles.SingleFileName)).Select(e => e.Name));

        using var fromNewer = new TinyLlava(2, ScalarType.BFloat16);
        using var fromOriginal = new TinyLlava(3, ScalarType.BFloat16);
        CheckpointLoader.LoadInto(fromNewer, Path.Combine(dir.Path, "newer"), LlavaKeyMap.Map);
        var r = CheckpointLoader.LoadInto(fromOriginal, Path.Combine(dir.Path, "original"), LlavaKeyMap.Map);
        Assert.Equal(new[] { "model.layers.0.self_attn.rotary_emb.inv_freq" }, r.Dropped);
        TensorAssert.StatesBitEqual(a, fromNewer);
        TensorAssert.StatesBitEqual(a, fromOriginal);

        // Without the key map the newer names are all unexpected and the canonical ones all missing.
        using var c = new TinyLlava(4, ScalarType.BFloat16);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.LoadInto(c, Path.Combine(dir.Path, "newer")));
        Assert.Contains($"{state.Count} missing, {state.Count} unexpected", ex.Message);
    }

    [Fact]
    public void Key_map_rules_cover_every_name_and_only_the_names_it_should()
    {
        Assert.Equal("language_model.model.layers.3.mlp.up_proj.weight", LlavaKeyMap.Map("model.language_model.layers.3.mlp.up_proj.weight"));
        Assert.Equal("language_model.model.layers.3.mlp.up_proj.weight", LlavaKeyMap.Map("model.layers.3.mlp.up_proj.weight"));
        Assert.Equal("language_model.model.layers.3.mlp.up_proj.weight", LlavaKeyMap.Map("language_model.model.layers.3.mlp.up_proj.weight"));
        Assert.Equal("language_model.lm_head.weight", LlavaKeyMap.Map("lm_head.weight"));
        Assert.Equal("vision_tower.vision_model.pre_layrnorm.bias", LlavaKeyMap.Map("model.vision_tower.vision_model.pre_layrnorm.bias"));
        Assert.Equal("vision_tower.vision_model.pre_layrnorm.bias", LlavaKeyMap.Map("model.vision_tower.vision_tower.vision_model.pre_layrnorm.bias"));
        Assert.Equal("multi_modal_projector.linear_2.bias", LlavaKeyMap.Map("model.multi_modal_projector.linear_2.bias"));
        Assert.Equal("multi_modal_projector.linear_1.weight", LlavaKeyMap.Map("model.mm_projector.0.weight"));
        Assert.Equal("multi_modal_projector.linear_2.weight", LlavaKeyMap.Map("model.mm_projector.2.weight"));
        Assert.Null(LlavaKeyMap.Map("model.layers.0.self_attn.rotary_emb.inv_freq"));
    }

    [SharedDataFact("key_mapping_llava_to_hf_7b.json")]
    public void Key_map_reproduces_the_documented_7b_mapping_file() => CheckMappingFile("key_mapping_llava_to_hf_7b.json", 32);

    [SharedDataFact("key_mapping_llava_to_hf_13b.json")]
    public void Key_map_reproduces_the_documented_13b_mapping_file() => CheckMappingFile("key_mapping_llava_to_hf_13b.json", 40);

    [SharedDataFact("key_mapping_llava_to_hf_7b.json")]
    public void Original_llava_checkpoint_loads_through_the_documented_mapping_file()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        // TinyLlava's keys are a subset of LLaVA-1.5-7B's (layers 0-1, q/k_proj, input_layernorm, projector, pre_layrnorm, ...)
        CheckpointWriter.Save(a.state_dict().Select(kv => (ToOriginal(kv.Key), kv.Value)), dir.Path);
        var map = LlavaKeyMap.FromMappingFile(SharedData.Find("key_mapping_llava_to_hf_7b.json")!);
        using var b = new TinyLlava(2);
        CheckpointLoader.LoadInto(b, dir.Path, map);
        TensorAssert.StatesBitEqual(a, b);
    }

    private static void CheckMappingFile(string name, int layers)
    {
        var table = LlavaKeyMap.ReadMappingFile(SharedData.Find(name)!);
        // 9 weights per Llama layer + embed, norm, lm_head; 16 per CLIP-L layer (24) + 7 others; 4 projector
        Assert.Equal(9 * layers + 3 + 16 * 24 + 7 + 4, table.Count);
        var wrong = table.Where(kv => LlavaKeyMap.Map(kv.Key) != kv.Value).Select(kv => $"{kv.Key} -> {LlavaKeyMap.Map(kv.Key)} (file: {kv.Value})").ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(10)));
        var fromFile = LlavaKeyMap.FromMappingFile(SharedData.Find(name)!);
        Assert.Equal("language_model.model.norm.weight", fromFile("model.norm.weight"));
    }

    [Fact]
    public void Missing_unexpected_and_wrong_shape_keys_are_all_reported_with_key_and_file()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        var state = a.state_dict();
        var tensors = state.Where(kv => kv.Key != "language_model.model.norm.weight")
            .Select(kv => kv.Key == "multi_modal_projector.linear_1.weight" ? (kv.Key, zeros(3, 3)) : (kv.Key, kv.Value))
            .Append(("language_model.model.extra.bias", zeros(2)))
            .ToList();
        CheckpointWriter.Save(tensors, dir.Path, maxShardBytes: 500);
        using var b = new TinyLlava(2);
        var before = b.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.LoadInto(b, dir.Path));
        Assert.Contains("1 missing, 1 unexpected, 1 wrong shape", ex.Message);
        Assert.Contains(dir.Path, ex.Message);
        Assert.Contains("language_model.model.norm.weight [8]", ex.Message);
        Assert.Matches(@"language_model\.model\.extra\.bias \[2\] in model-0000\d-of-0000\d\.safetensors", ex.Message);
        Assert.Matches(@"multi_modal_projector\.linear_1\.weight: expected \[8, 6\], found \[3, 3\] in model-0000\d-of-0000\d\.safetensors", ex.Message);
        // nothing was loaded: the check happens on the headers before any data is read
        foreach (var (k, t) in b.state_dict()) TensorAssert.BitEqual(before[k], t, k);
    }

    [Fact]
    public void Long_lists_are_cut_after_ten_with_a_count()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save([("only.one", ones(1))], dir.Path);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.LoadInto(a, dir.Path));
        int n = a.state_dict().Count;
        Assert.Contains($"{n} missing, 1 unexpected, 0 wrong shape", ex.Message);
        Assert.Contains($"... and {n - CheckpointLoader.MaxListed} more", ex.Message);
    }

    [Fact]
    public void Allow_missing_and_allow_unexpected_are_honoured()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        var tensors = a.state_dict().Where(kv => kv.Key != "language_model.lm_head.weight").Select(kv => (kv.Key, kv.Value))
            .Append(("extra.thing", ones(2)));
        CheckpointWriter.Save(tensors, dir.Path);
        using var b = new TinyLlava(2);
        var r = CheckpointLoader.LoadInto(b, dir.Path, new CheckpointLoadOptions
        {
            AllowMissing = k => k == "language_model.lm_head.weight",
            AllowUnexpected = k => k.StartsWith("extra."),
        });
        Assert.Equal(new[] { "language_model.lm_head.weight" }, r.AllowedMissing);
        Assert.Equal(b.state_dict().Count - 1, r.Loaded);
        Assert.Equal(new[] { "extra.thing" }, r.IgnoredUnexpected);
        TensorAssert.BitEqual(a.multi_modal_projector.linear_1.weight!, b.multi_modal_projector.linear_1.weight!, "linear_1");
    }

    [Fact]
    public void Progress_reports_every_tensor_and_ends_at_the_total()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save(a, dir.Path, maxShardBytes: 700);
        var calls = new List<(int Done, int Total, long Bytes, long BytesTotal)>();
        using var b = new TinyLlava(2);
        CheckpointLoader.LoadInto(b, dir.Path, new CheckpointLoadOptions { Progress = (d, t, bd, bt) => calls.Add((d, t, bd, bt)) });
        int n = a.state_dict().Count;
        Assert.Equal(Enumerable.Range(1, n), calls.Select(c => c.Done));
        Assert.All(calls, c => Assert.Equal(n, c.Total));
        Assert.Equal(a.state_dict().Values.Sum(t => t.numel() * 4), calls[^1].Bytes);
        Assert.Equal(calls[^1].Bytes, calls[^1].BytesTotal);
    }

    [Fact]
    public void Loading_with_a_dtype_converts_the_module_and_the_weights()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save(a, dir.Path, dtype: ScalarType.BFloat16);
        Assert.Equal("BF16", SafeTensorsFile.ReadEntries(dir[CheckpointFiles.SingleFileName])[0].DType);
        using var b = new TinyLlava(2);
        CheckpointLoader.LoadInto(b, dir.Path, dtype: ScalarType.BFloat16);
        foreach (var (k, t) in a.state_dict()) TensorAssert.BitEqual(t.to_type(ScalarType.BFloat16), b.state_dict()[k], k);
        // and a bf16 checkpoint into an fp32 module without conversion: exact widening
        using var c = new TinyLlava(3);
        CheckpointLoader.LoadInto(c, dir.Path);
        foreach (var (k, t) in a.state_dict()) TensorAssert.BitEqual(t.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32), c.state_dict()[k], k);
    }

    [Fact]
    public void Broken_index_files_name_the_index_and_the_shard()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save(a, dir.Path, maxShardBytes: 600);
        var index = dir[CheckpointFiles.IndexFileName];
        var text = File.ReadAllText(index);

        File.Delete(dir[CheckpointWriter.ShardName(2, Directory.GetFiles(dir.Path, "model-*").Length)]);
        var ex1 = Assert.Throws<FileNotFoundException>(() => CheckpointLoader.LoadInto(a, dir.Path));
        Assert.Contains(index, ex1.Message);
        Assert.Contains("-of-", ex1.Message);

        File.WriteAllText(index, "{\"weight_map\": ");
        var ex2 = Assert.Throws<InvalidDataException>(() => CheckpointLoader.LoadInto(a, dir.Path));
        Assert.Contains(index, ex2.Message);
        Assert.Contains("not valid JSON", ex2.Message);

        File.WriteAllText(index, "{\"weight_map\": {\"no.such.key\": \"" + CheckpointWriter.ShardName(1, 9) + "\"}}");
        File.Copy(Directory.GetFiles(dir.Path, "model-00001-*").First(), dir[CheckpointWriter.ShardName(1, 9)]);
        var ex3 = Assert.Throws<InvalidDataException>(() => CheckpointLoader.LoadInto(a, dir.Path));
        Assert.Contains("'no.such.key'", ex3.Message);
        Assert.Contains("has no such tensor", ex3.Message);

        var ex4 = Assert.Throws<FileNotFoundException>(() => CheckpointLoader.LoadInto(a, dir["nope"]));
        Assert.Contains(dir["nope"], ex4.Message);
    }

    [Fact]
    public void Memory_estimate_counts_bytes_per_dtype_and_refuses_with_a_clear_message()
    {
        using var dir = new TempDir();
        CheckpointWriter.Save([("w", zeros(100, 10, dtype: ScalarType.BFloat16)), ("ids", zeros(new long[] { 10 }, ScalarType.Int64))], dir.Path);
        Assert.Equal(1000 * 2 + 80, CheckpointMemory.EstimateBytes(dir.Path));
        Assert.Equal(1000 * 4 + 80, CheckpointMemory.EstimateBytes(dir.Path, ScalarType.Float32));
        Assert.Equal(2080, CheckpointMemory.EnsureFits(dir.Path, ScalarType.BFloat16, headroom: 1.0, availableBytes: 3000));
        var ex = Assert.Throws<InsufficientMemoryException>(() =>
            CheckpointMemory.EnsureFits(dir.Path, ScalarType.Float32, headroom: 1.0, availableBytes: 3000));
        Assert.Contains(dir.Path, ex.Message);
        Assert.Contains("Float32", ex.Message);
        Assert.Contains("would fit as BFloat16 or Float16", ex.Message);
        Assert.True(CheckpointMemory.AvailableBytes() > 0);
    }

    [Fact]
    public void Corrupted_index_and_shards_only_ever_give_file_errors_and_never_a_partial_load_of_a_bad_header()
    {
        using var dir = new TempDir();
        using var a = new TinyLlava(1);
        CheckpointWriter.Save(a, dir.Path, maxShardBytes: 700);
        var files = Directory.GetFiles(dir.Path).OrderBy(f => f).ToArray();
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var rng = new Random(11);
        int tried = 0, rejected = 0, loaded = 0;
        for (int trial = 0; trial < 120; trial++)
        {
            int which = rng.Next(files.Length);
            var b = (byte[])originals[which].Clone();
            if (trial % 2 == 0) b = b[..rng.Next(b.Length)];
            else for (int k = 0; k < 3; k++) b[rng.Next(Math.Min(b.Length, 400))] = (byte)rng.Next(256);
            File.WriteAllBytes(files[which], b);
            tried++;
            using var m = new TinyLlava(2);
            try
            {
                CheckpointLoader.LoadInto(m, dir.Path);
                loaded++;
            }
            catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException)
            {
                Assert.Contains(dir.Path, ex.Message);
                rejected++;
            }
            File.WriteAllBytes(files[which], originals[which]);
        }
        output.WriteLine($"checkpoint (index + shards) corruptions: {tried} tried, {rejected} rejected with a file error, {loaded} still loadable; no other outcome");
        Assert.Equal(tried, rejected + loaded);
        Assert.True(rejected >= 60, $"only {rejected} detected");
    }

    private sealed class WithIntBuffer : TorchSharp.torch.nn.Module
    {
        public TorchSharp.Modules.Parameter weight = new(randn(3, 2));
        public WithIntBuffer() : base(nameof(WithIntBuffer))
        {
            RegisterComponents();
            register_buffer("ids", arange(4L), persistent: true);
        }
    }

    [Fact]
    public void Dtype_conversion_on_load_keeps_integer_buffers_integer()
    {
        using var dir = new TempDir();
        using var a = new WithIntBuffer();
        CheckpointWriter.Save(a, dir.Path);
        using var b = new WithIntBuffer();
        CheckpointLoader.LoadInto(b, dir.Path, dtype: ScalarType.BFloat16);
        var state = b.state_dict();
        Assert.Equal(ScalarType.BFloat16, state["weight"].dtype);
        Assert.Equal(ScalarType.Int64, state["ids"].dtype);
        Assert.Equal(new long[] { 0, 1, 2, 3 }, state["ids"].data<long>().ToArray());
    }
}
