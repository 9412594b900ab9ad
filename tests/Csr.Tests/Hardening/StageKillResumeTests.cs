using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SkiaSharp;

namespace Csr.Tests.Hardening;

/// <summary>A tiny checkpoint pair (make-tiny), a few images and a prompt file, built once for the class.</summary>
public sealed class TinyWorkspace : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("csr-kill-stages-").FullName;
    public string Llava => Path.Combine(Root, "tiny", "llava");
    public string Clip => Path.Combine(Root, "tiny", "clip");
    public string Images => Path.Combine(Root, "imgs");
    public string Prompts => Path.Combine(Root, "prompts.json");

    public TinyWorkspace()
    {
        var r = CliProcess.Run(new[] { "make-tiny", "--out", Path.Combine(Root, "tiny"), "--seed", "3" });
        if (r.ExitCode != 0) throw new InvalidOperationException("make-tiny failed: " + r.StdErr + r.StdOut);
        Directory.CreateDirectory(Images);
        var entries = new List<object>();
        for (int i = 0; i < 4; i++)
        {
            using var bmp = new SKBitmap(48 + 3 * i, 40);
            using (var c = new SKCanvas(bmp))
            {
                c.Clear(new SKColor((byte)(40 * i), 120, (byte)(200 - 30 * i)));
                using var paint = new SKPaint { Color = SKColors.Red };
                c.DrawCircle(10 + 5 * i, 20, 8, paint);
            }
            using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(Images, $"im{i}.png"), data.ToArray());
            entries.Add(new { id = $"q{i}", image = $"im{i}.png", input = "<image>\nDescribe this image." });
        }
        File.WriteAllText(Prompts, System.Text.Json.JsonSerializer.Serialize(entries));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}

/// <summary>
/// Each stage of the pipeline, run as the real CLI, is SIGKILLed as soon as it has written partial state (a first
/// tree, a first DPO checkpoint, a first merged shard, a finished round) and restarted with the same command: the
/// rerun must say in its output that it skipped or resumed that work (a count above zero), its outputs must equal
/// an uninterrupted run's, and no temp file may be left where a reader would take it for output. CSR_KILL_TRIALS
/// (default 1, to keep CI fast) sets the kills per stage.
/// </summary>
public class StageKillResumeTests(TinyWorkspace ws, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TinyWorkspace>
{
    static int Trials => int.TryParse(Environment.GetEnvironmentVariable("CSR_KILL_TRIALS"), out var n) && n > 0 ? n : 1;

    /// <summary>Runs that finish before the kill lands (the stage was too quick) are retried this often per trial.</summary>
    const int Attempts = 4;

    string[] SampleArgs(string outDir) => new[]
    {
        "sample", "--model", ws.Llava, "--prompts", ws.Prompts, "--images", ws.Images, "--out", outDir,
        "--max-new-tokens", "6", "--max-length", "40", "--num-beams", "3", "--num-beam-groups", "3", "--num-token-beams", "3", "--seed", "5",
        // fp32: a resumed batched run samples the rest with other batch-mates, and only in fp32 are batched trees equal
        // to within 1e-4 whatever the batch (in bf16, the auto dtype on CPUs with native bf16, the rounding depends on it)
        "--dtype", "fp32",
    };

    static IDictionary<string, byte[]> JsonOutputs(string dir) =>
        CliProcess.Snapshot(dir).Where(kv => kv.Key.EndsWith(".json", StringComparison.Ordinal) && !kv.Key.StartsWith('.')
                && Path.GetFileName(kv.Key) != Csr.Kernels.KernelReport.FileName) // what this process ran, not an output
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>A per-prompt tree file is in place (the atomic writer's temp files start with '.').</summary>
    static bool HasTree(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*.json").Any(f => !Path.GetFileName(f).StartsWith('.'));

    /// <summary>The count a stage reports for the work it skipped or resumed (group 1 of <paramref name="report"/>), summed over its lines.</summary>
    static int Reported(string stdout, Regex report) => report.Matches(stdout).Sum(m => int.Parse(m.Groups[1].Value));

    /// <summary>
    /// Runs the uninterrupted reference, then Trials times: run until <paramref name="partial"/> holds for the
    /// output directory, kill, rerun, require <paramref name="report"/> in the rerun's output with a count above
    /// zero, compare the outputs with the reference.
    /// </summary>
    void KillAndResume(string name, Func<string, string[]> argsFor, Func<string, IDictionary<string, byte[]>> outputs,
        Func<string, bool> partial, Regex report, Func<string, string[]>? resumeArgsFor = null, Action<string, byte[], byte[]>? same = null)
    {
        same ??= (what, e, a) => Assert.True(e.AsSpan().SequenceEqual(a), $"{what} differs from the uninterrupted run");
        string refDir = Path.Combine(ws.Root, $"{name}-ref");
        var full = CliProcess.Run(argsFor(refDir));
        Assert.True(full.ExitCode == 0, $"{name}: {full.StdErr}{full.StdOut}");
        var expected = outputs(refDir);
        Assert.NotEmpty(expected);
        Assert.True(Reported(full.StdOut, report) == 0, $"{name}: a run into an empty directory reported skipped work:\n{full.StdOut}");

        for (int t = 0; t < Trials; t++)
        {
            string dir = "";
            CliProcess.Result? first = null;
            for (int attempt = 0; attempt < Attempts && first?.Killed != true; attempt++)
            {
                dir = Path.Combine(ws.Root, $"{name}-t{t}-a{attempt}");
                string d = dir;
                first = CliProcess.Run(argsFor(d), killWhen: () => partial(d));
            }
            Assert.True(first!.Killed, $"{name} trial {t}: the stage finished {Attempts} times before its partial state could be seen and killed");
            Assert.True(partial(dir), $"{name} trial {t}: killed without partial state in {dir}");
            var second = CliProcess.Run((resumeArgsFor ?? argsFor)(dir));
            Assert.True(second.ExitCode == 0, $"{name} trial {t} rerun: {second.StdErr}{second.StdOut}");
            int skipped = Reported(second.StdOut, report);
            Assert.True(skipped > 0, $"{name} trial {t}: the rerun after the kill reported no skipped or resumed work ({report}):\n{second.StdOut}");
            var got = outputs(dir);
            Assert.Equal(expected.Keys.OrderBy(k => k), got.Keys.OrderBy(k => k));
            foreach (var (k, v) in expected) same($"{name} trial {t}: {k}", v, got[k]);
            Assert.DoesNotContain(CliProcess.TempFiles(dir), f => !Path.GetFileName(f).StartsWith('.'));
            output.WriteLine($"{name} trial {t}: killed with partial state; the rerun reported {skipped} done and matched the uninterrupted run");
        }
    }

    [Fact]
    public void Sample_then_score_resume_to_identical_trees()
    {
        // the default batches the four prompts together: the rerun's trees are equal up to fp32 rounding (SampleArgs: --dtype fp32)
        KillAndResume("sample", SampleArgs, JsonOutputs, HasTree, new Regex(@"^sample: skipped (\d+) of \d+ prompts \(already done\)", RegexOptions.Multiline),
            same: SameTree);
        string trees = Path.Combine(ws.Root, "sample-ref");
        KillAndResume("score",
            d => new[] { "score", "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--trees", trees, "--out", d, "--batch-prompts", "1" },
            JsonOutputs, HasTree, new Regex(@"^score: skipped (\d+) of \d+ prompts \(already scored\)", RegexOptions.Multiline));
    }

    [Fact]
    public void Dpo_resumed_from_its_checkpoint_and_merge_rerun_give_identical_weights()
    {
        string trees = Path.Combine(ws.Root, "dpo-trees"), scored = Path.Combine(ws.Root, "dpo-scored"), prefs = Path.Combine(ws.Root, "prefs.json");
        Assert.Equal(0, CliProcess.Run(SampleArgs(trees)).ExitCode);
        Assert.Equal(0, CliProcess.Run(new[] { "score", "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--trees", trees, "--out", scored }).ExitCode);
        var c = CliProcess.Run(new[] { "construct", "--trees", scored, "--prompts", ws.Prompts, "--out", prefs });
        Assert.True(c.ExitCode == 0, c.StdErr + c.StdOut);

        string[] Dpo(string d) => new[]
        {
            "dpo", "--model", ws.Llava, "--prefs", prefs, "--images", ws.Images, "--out", d, "--epochs", "2",
            "--lr", "1e-3", "--lora-r", "4", "--lora-alpha", "8", "--save-steps", "1", "--lora-dropout", "0", "--seed", "9",
        };
        IDictionary<string, byte[]> Adapter(string d) =>
            CliProcess.Snapshot(Path.Combine(d, "adapter")).Where(kv => !kv.Key.StartsWith('.')).ToDictionary(kv => kv.Key, kv => kv.Value);
        static bool HasCheckpoint(string d) =>
            Directory.Exists(d) && Directory.EnumerateDirectories(d, "checkpoint-*").Any(c => File.Exists(Path.Combine(c, "trainer_state.json")));
        KillAndResume("dpo", Dpo, Adapter, HasCheckpoint,
            new Regex(@"^dpo: resumed from checkpoint-(\d+) \(\d+ of \d+ steps done\)", RegexOptions.Multiline), d => Dpo(d).Append("--resume").ToArray());

        // Small shards, so the merged tiny model has many and a kill lands between two of them.
        long baseBytes = Directory.GetFiles(ws.Llava, "*.safetensors").Sum(f => new FileInfo(f).Length);
        string shardSize = (baseBytes / 40).ToString();
        string adapter = Path.Combine(ws.Root, "dpo-ref", "adapter");
        static bool HasMergedShard(string d) =>
            File.Exists(Path.Combine(d, ".merge-progress.json")) && File.ReadAllText(Path.Combine(d, ".merge-progress.json")).Contains(".safetensors");
        string[] Merge(string d, string adapterDir) =>
            new[] { "merge", "--model", ws.Llava, "--adapter", adapterDir, "--out", d, "--max-shard-size", shardSize };
        static IDictionary<string, byte[]> Merged(string d) =>
            CliProcess.Snapshot(d).Where(kv => !kv.Key.StartsWith('.')).ToDictionary(kv => kv.Key, kv => kv.Value);
        var mergeReport = new Regex(@"^merge: skipped (\d+) of \d+ shards already written", RegexOptions.Multiline);
        KillAndResume("merge", d => Merge(d, adapter), Merged, HasMergedShard, mergeReport);
        string mergeRef = Path.Combine(ws.Root, "merge-ref");
        var merged = Directory.GetFiles(mergeRef, "*.safetensors");
        Assert.True(merged.Length > 2, $"the merged tiny model has {merged.Length} shards; the kill needs several");

        // Another adapter (lora_alpha doubled) merged into the directory of a finished merge: nothing is reused.
        string other = Path.Combine(ws.Root, "adapter-alpha16");
        Directory.CreateDirectory(other);
        foreach (var f in Directory.GetFiles(adapter)) File.Copy(f, Path.Combine(other, Path.GetFileName(f)));
        string cfgPath = Path.Combine(other, "adapter_config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!;
        cfg["lora_alpha"] = 16;
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        var before = Merged(mergeRef);
        var fresh = CliProcess.Run(Merge(Path.Combine(ws.Root, "merge-other"), other));
        Assert.True(fresh.ExitCode == 0, fresh.StdErr + fresh.StdOut);
        var want = Merged(Path.Combine(ws.Root, "merge-other"));
        Assert.Contains(want, kv => !kv.Value.AsSpan().SequenceEqual(before[kv.Key]));
        var over = CliProcess.Run(Merge(mergeRef, other));
        Assert.True(over.ExitCode == 0, over.StdErr + over.StdOut);
        Assert.True(Reported(over.StdOut, mergeReport) == 0, $"a merge of another adapter reused shards of the earlier merge:\n{over.StdOut}");
        var got = Merged(mergeRef);
        Assert.Equal(want.Keys.OrderBy(k => k), got.Keys.OrderBy(k => k));
        foreach (var (k, v) in want) Assert.True(v.AsSpan().SequenceEqual(got[k]), $"merge over an earlier merge of other inputs: {k} differs from a fresh merge");
    }

    /// <summary>
    /// Trees equal as batched sampling promises: the same structure, texts and finality, numbers within 1e-4 (a tree
    /// sampled beside other prompts differs from the same tree beside others in fp32 rounding only).
    /// </summary>
    static void SameTree(string what, byte[] expected, byte[] actual)
    {
        static void Walk(JsonNode? e, JsonNode? a, string path)
        {
            switch (e)
            {
                case null: Assert.True(a is null, $"{path}: null expected"); break;
                case JsonObject eo:
                    var ao = Assert.IsType<JsonObject>(a);
                    Assert.True(eo.Select(kv => kv.Key).SequenceEqual(ao.Select(kv => kv.Key)), $"{path}: keys differ");
                    foreach (var (k, v) in eo) Walk(v, ao[k], $"{path}.{k}");
                    break;
                case JsonArray ea:
                    var aa = Assert.IsType<JsonArray>(a);
                    Assert.True(ea.Count == aa.Count, $"{path}: {aa.Count} items, expected {ea.Count}");
                    for (int i = 0; i < ea.Count; i++) Walk(ea[i], aa[i], $"{path}[{i}]");
                    break;
                default:
                    if (e.GetValueKind() == System.Text.Json.JsonValueKind.Number && a?.GetValueKind() == System.Text.Json.JsonValueKind.Number)
                        Assert.True(Math.Abs(e.GetValue<double>() - a.GetValue<double>()) <= 1e-4, $"{path}: {a} vs {e}");
                    else
                        Assert.True(e.ToJsonString() == a?.ToJsonString(), $"{path}: {a?.ToJsonString()} vs {e.ToJsonString()}");
                    break;
            }
        }
        Walk(JsonNode.Parse(expected), JsonNode.Parse(actual), what);
    }

    [Fact]
    public void Batched_sample_killed_after_its_first_tree_resumes_per_prompt()
    {
        // two trees advance together over four prompts: the first finished tree is on disk while others are in flight;
        // the rerun samples the rest beside other batch-mates, so its trees are equal up to fp32 rounding
        KillAndResume("sample-batched", d => [.. SampleArgs(d), "--batch-prompts", "2"], JsonOutputs, HasTree,
            new Regex(@"^sample: skipped (\d+) of \d+ prompts \(already done\)", RegexOptions.Multiline), same: SameTree);
    }

    [Fact]
    public async Task Two_workers_on_overlapping_shards_and_the_same_output_directory_write_whole_identical_trees()
    {
        string refDir = Path.Combine(ws.Root, "conc-ref"), shared = Path.Combine(ws.Root, "conc-shared");
        // One prompt at a time, so a tree does not depend on its batch-mates: the random tiny model has near-tied logits,
        // where the rounding of another batch composition can flip a token (batched trees are compared elsewhere).
        string[] Args(string d) => [.. SampleArgs(d), "--batch-prompts", "1"];
        var r = CliProcess.Run(Args(refDir));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        // Worker A takes every prompt, worker B the shard 1/2: they overlap on half the prompts and race on them.
        var a = Task.Run(() => CliProcess.Run(Args(shared)));
        var b = Task.Run(() => CliProcess.Run(Args(shared).Concat(new[] { "--shard", "1/2" })));
        var (ra, rb) = (await a, await b);
        Assert.True(ra.ExitCode == 0, ra.StdErr + ra.StdOut);
        Assert.True(rb.ExitCode == 0, rb.StdErr + rb.StdOut);
        var expected = JsonOutputs(refDir);
        var got = JsonOutputs(shared);
        Assert.Equal(expected.Keys.OrderBy(k => k), got.Keys.OrderBy(k => k));
        // each file parses whole and holds the tree the prompt has alone
        foreach (var (k, v) in expected) SameTree($"{k} after two concurrent writers", v, got[k]);
        Assert.Empty(CliProcess.TempFiles(shared));
    }

    [Fact]
    public void Run_killed_across_rounds_resumes_to_the_same_final_model()
    {
        string[] Run(string d) => new[]
        {
            "run", "--model", ws.Llava, "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--out", d,
            "--iterations", "2", "--max-new-tokens", "6", "--max-length", "40", "--num-beams", "3", "--num-beam-groups", "3",
            "--num-token-beams", "3", "--lr", "1e-3", "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0", "--save-steps", "1", "--seed", "5",
        };
        // The outputs that matter across rounds: every round's trees, pairs and merged weights.
        static IDictionary<string, byte[]> Outputs(string d) =>
            CliProcess.Snapshot(d).Where(kv => !Path.GetFileName(kv.Key).StartsWith('.') && Path.GetFileName(kv.Key) != Csr.Kernels.KernelReport.FileName &&
                    (kv.Key.EndsWith(".safetensors", StringComparison.Ordinal) || kv.Key.Contains("pref", StringComparison.OrdinalIgnoreCase) ||
                     (kv.Key.EndsWith(".json", StringComparison.Ordinal) && kv.Key.Contains("tree", StringComparison.OrdinalIgnoreCase))))
                .ToDictionary(kv => kv.Key, kv => kv.Value);
        static bool RoundOneDone(string d) =>
            File.Exists(Path.Combine(d, "manifest.json")) && File.ReadAllText(Path.Combine(d, "manifest.json")).Contains("\"round-1/merge\"");
        KillAndResume("run", Run, Outputs, RoundOneDone, new Regex(@"^run: round (\d+) complete, skipped", RegexOptions.Multiline));
    }
}
