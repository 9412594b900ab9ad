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
/// Each stage of the pipeline, run as the real CLI, is SIGKILLed at seeded random points and restarted with
/// the same command: the outputs must equal an uninterrupted run's, and no temp file may be left where a
/// reader would take it for output. CSR_KILL_TRIALS (default 1, to keep CI fast; the figures in the README come from a run with more) sets the kill points per stage.
/// </summary>
public class StageKillResumeTests(TinyWorkspace ws, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TinyWorkspace>
{
    static int Trials => int.TryParse(Environment.GetEnvironmentVariable("CSR_KILL_TRIALS"), out var n) && n > 0 ? n : 1;

    string[] SampleArgs(string outDir) => new[]
    {
        "sample", "--model", ws.Llava, "--prompts", ws.Prompts, "--images", ws.Images, "--out", outDir,
        "--max-new-tokens", "6", "--max-length", "40", "--num-beams", "3", "--num-beam-groups", "3", "--num-token-beams", "3", "--seed", "5",
    };

    static IDictionary<string, byte[]> JsonOutputs(string dir) =>
        CliProcess.Snapshot(dir).Where(kv => kv.Key.EndsWith(".json", StringComparison.Ordinal) && !kv.Key.StartsWith('.')
                && Path.GetFileName(kv.Key) != Csr.Kernels.KernelReport.FileName) // what this process ran, not an output
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>Runs the uninterrupted reference, then Trials times: kill at a random point, rerun, compare.</summary>
    void KillAndResume(string name, Func<string, string[]> argsFor, Func<string, IDictionary<string, byte[]>> outputs,
        Func<string, string[]>? resumeArgsFor = null, int seed = 1)
    {
        string refDir = Path.Combine(ws.Root, $"{name}-ref");
        var full = CliProcess.Run(argsFor(refDir));
        Assert.True(full.ExitCode == 0, $"{name}: {full.StdErr}{full.StdOut}");
        var expected = outputs(refDir);
        Assert.NotEmpty(expected);

        var rng = new Random(seed);
        int killed = 0;
        for (int t = 0; t < Trials; t++)
        {
            string dir = Path.Combine(ws.Root, $"{name}-t{t}");
            // Kill points spread over the run, including its start-up.
            var delay = TimeSpan.FromMilliseconds((0.1 + 0.6 * rng.NextDouble()) * full.Elapsed.TotalMilliseconds);
            var first = CliProcess.Run(argsFor(dir), killAfter: delay);
            if (first.Killed) killed++;
            var second = CliProcess.Run((resumeArgsFor ?? argsFor)(dir));
            Assert.True(second.ExitCode == 0, $"{name} trial {t} rerun: {second.StdErr}{second.StdOut}");
            var got = outputs(dir);
            Assert.Equal(expected.Keys.OrderBy(k => k), got.Keys.OrderBy(k => k));
            foreach (var (k, v) in expected) Assert.True(v.AsSpan().SequenceEqual(got[k]), $"{name} trial {t}: {k} differs from the uninterrupted run");
            Assert.Empty(CliProcess.TempFiles(dir).Where(f => !Path.GetFileName(f).StartsWith('.')));
        }
        output.WriteLine($"{name}: {Trials} kill points, {killed} killed before finishing, {Trials} reruns identical to the uninterrupted run");
        Assert.True(killed > 0, $"{name}: no trial was killed before it finished");
    }

    [Fact]
    public void Sample_then_score_resume_to_identical_trees()
    {
        KillAndResume("sample", SampleArgs, JsonOutputs, seed: 1);
        string trees = Path.Combine(ws.Root, "sample-ref");
        KillAndResume("score",
            d => new[] { "score", "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--trees", trees, "--out", d, "--batch-prompts", "1" },
            JsonOutputs, seed: 2);
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
        KillAndResume("dpo", Dpo, Adapter, d => Dpo(d).Append("--resume").ToArray(), seed: 3);

        string adapter = Path.Combine(ws.Root, "dpo-ref", "adapter");
        KillAndResume("merge", d => new[] { "merge", "--model", ws.Llava, "--adapter", adapter, "--out", d },
            d => CliProcess.Snapshot(d).Where(kv => kv.Key.EndsWith(".safetensors", StringComparison.Ordinal) && !kv.Key.StartsWith('.'))
                .ToDictionary(kv => kv.Key, kv => kv.Value), seed: 4);
    }

    [Fact]
    public void Two_workers_on_overlapping_shards_and_the_same_output_directory_write_whole_identical_trees()
    {
        string refDir = Path.Combine(ws.Root, "conc-ref"), shared = Path.Combine(ws.Root, "conc-shared");
        var r = CliProcess.Run(SampleArgs(refDir));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        // Worker A takes every prompt, worker B the shard 1/2: they overlap on half the prompts and race on them.
        var a = Task.Run(() => CliProcess.Run(SampleArgs(shared)));
        var b = Task.Run(() => CliProcess.Run(SampleArgs(shared).Concat(new[] { "--shard", "1/2" })));
        Assert.True(a.Result.ExitCode == 0, a.Result.StdErr + a.Result.StdOut);
        Assert.True(b.Result.ExitCode == 0, b.Result.StdErr + b.Result.StdOut);
        var expected = JsonOutputs(refDir);
        var got = JsonOutputs(shared);
        Assert.Equal(expected.Keys.OrderBy(k => k), got.Keys.OrderBy(k => k));
        foreach (var (k, v) in expected) Assert.True(v.AsSpan().SequenceEqual(got[k]), $"{k} differs after two concurrent writers");
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
        KillAndResume("run", Run, Outputs, seed: 6);
    }
}
