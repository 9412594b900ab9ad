using System.Diagnostics;
using Csr.Models.Llama;
using Csr.Native;
using Csr.Train.Cli;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using Csr.Train.World;
using Csr.Train.World.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Pipeline;

/// <summary>
/// Sampling throughput at the official settings (5 beams, 5 groups, 5 token beams, diversity 3, max_new_tokens 70,
/// max_length 1024), the same prompts three ways in one process: re-encoding every node (<c>--no-prefix-cache</c>),
/// the prefix cache one prompt at a time, and the prefix cache with trees batched across prompts
/// (<c>--batch-prompts N</c> of the sampler, when it has that option). Per mode: wall time per prompt, forwarded
/// tokens per prompt, language-model forwards and rows per forward (<see cref="ForwardStats"/>); trees are compared
/// to the one-prompt prefix-cache trees.
/// <code>
/// dotnet bench/Csr.Bench/bin/Release/net10.0/Csr.Bench.dll --sampling --model world [--prompts 96] [--batch-prompts N[,N2,...]] [--threads T] [--dtype auto] [--modes recompute,cached,batched] [--repeat K] [--fused] [--progress]
/// dotnet bench/Csr.Bench/bin/Release/net10.0/Csr.Bench.dll --sampling --model mid [--prompts 4] [--max-length 1024] [--period-bias-x100 80] [--logit-scale 8]
/// </code>
/// <c>world</c>: the embedded world's base LLaVA from the demo's cache (<c>~/.cache/csr-train/world</c>; built there,
/// about 10-20 minutes on 2 cores, when missing) on the demo's CSR prompts; <c>mid</c>: the random mid-size LLaVA of
/// <see cref="PipelineReport"/> (576 image tokens), its output layer scaled by <c>--logit-scale</c> so that next-token
/// distributions are peaked (sentences of about 20 tokens at max_length 300, no near-tied sibling scores).
/// </summary>
public static class SamplingReport
{
    public static void Run(string[] args)
    {
        string model = Text(args, "--model", "world");
        if (model is not ("world" or "mid")) throw new ArgumentException($"--model {model}: expected world or mid");
        int prompts = Int(args, "--prompts", model == "world" ? 96 : 4);
        int threads = Int(args, "--threads", model == "world" ? 1 : Environment.ProcessorCount);
        int maxLength = Int(args, "--max-length", 1024);
        // --batch-prompts N or N1,N2,...: one batched mode per size ("batched-N" in --modes order)
        int[]? batches = args.Contains("--batch-prompts")
            ? Text(args, "--batch-prompts", "").Split(',').Select(x => int.TryParse(x, out var v) && v >= 1 ? v
                : throw new ArgumentException($"--batch-prompts {x}: expected a positive integer")).ToArray()
            : null;
        var modeList = Text(args, "--modes", "recompute,cached,batched").Split(',');
        Progress = args.Contains("--progress");
        TorchRuntime.EnsureInitialised();
        torch.set_num_threads(threads);
        var dtype = ComputeDevice.ResolveDTypeChoice(Text(args, "--dtype", "auto"), CPU);
        Console.WriteLine($"cpu: {CpuFeatures.Describe()}; torch threads {torch.get_num_threads()}; {dtype}");

        string dir = Directory.CreateTempSubdirectory("csr-bench-sampling-").FullName;
        try
        {
            var (vlm, entries, rule, what) = model == "world" ? World(dir, prompts, dtype.DType) : Mid(dir, prompts, Int(args, "--period-bias-x100", 80) / 100.0, Int(args, "--logit-scale", 8), dtype.DType);
            using var _ = vlm;
            Console.WriteLine($"model: {what}");
            // official defaults otherwise; --fused: the Csr.Kernels beam step, as csr-train --fused samples
            var sample = new SampleOptions { MaxLength = maxLength, Fused = args.Contains("--fused") };
            Console.WriteLine($"sampling: {entries.Count} prompts, num_beams {sample.NumBeams}, groups {sample.NumBeamGroups}, token beams {sample.NumTokenBeams}, " +
                              $"diversity {sample.DiversityPenalty}, max_new_tokens {sample.MaxNewTokens}, max_length {sample.MaxLength}, beam step {(sample.Fused ? "fused (--fused)" : "reference")}");
            int defaultBatch = sample.BatchPromptsFor(vlm.Model.Device.type, SampleRunner.KvBytesPerTree(vlm, sample));
            Console.WriteLine($"batched sampler: --batch-prompts default {defaultBatch} on this device for this model");
            var sizes = batches ?? [defaultBatch];
            var modes = modeList.SelectMany(m => m == "batched" && sizes.Length > 1 ? sizes.Select(n => $"batched-{n}") : [m]).ToArray();
            int SizeOf(string mode) => mode == "batched" ? sizes[0] : int.Parse(mode["batched-".Length..]);

            // warm-up (JIT, allocator): the first prompt once, not timed
            SampleRunner.Run(vlm, entries.Take(1).ToList(), Path.Combine(dir, "warmup"), new SampleStageOptions(sample with { BatchPrompts = 1 }, PromptTemplate.Default, rule, Shard.All));

            // --repeat K: the modes run K times interleaved (cached, batched, cached, batched, ...), so a load change
            // on a shared machine hits every mode alike; times are the median of the K runs, trees are the first run's
            int repeat = Int(args, "--repeat", 1);
            if (repeat < 1) throw new ArgumentException($"--repeat {repeat}: must be >= 1");
            var results = new List<(string Mode, string Label, Result? R)>();
            var times = modes.ToDictionary(m => m, _ => new List<double>());
            for (int rep = 0; rep < repeat; rep++)
            {
                foreach (var mode in modes)
                {
                    string outDir = Path.Combine(dir, rep == 0 ? mode : $"{mode}-{rep}");
                    (string Label, Result R) run = mode switch
                    {
                        "recompute" => ("re-encode, one prompt at a time (--no-prefix-cache)",
                            Sample(vlm, entries, outDir, rule, sample with { PrefixCache = false, BatchPrompts = 1 }, mode)),
                        "cached" => ("prefix cache, one prompt at a time (--batch-prompts 1)",
                            Sample(vlm, entries, outDir, rule, sample with { BatchPrompts = 1 }, mode)),
                        _ when mode == "batched" || mode.StartsWith("batched-", StringComparison.Ordinal) =>
                            ($"prefix cache, batched (--batch-prompts {SizeOf(mode)}{(batches is null ? ", the default" : "")})",
                             Sample(vlm, entries, outDir, rule, sample with { BatchPrompts = SizeOf(mode) }, mode)),
                        _ => throw new ArgumentException($"--modes: unknown mode {mode} (recompute, cached, batched)"),
                    };
                    times[mode].Add(run.R.SecondsPerPrompt);
                    if (rep == 0) results.Add((mode, run.Label, run.R));
                    else Directory.Delete(outDir, true);
                }
            }
            double Median(string mode) => Csr.Bench.Kernels.BeamStepReport.Median(times[mode]);
            var cached = results.FirstOrDefault(x => x.Mode == "cached").R;
            var recompute = results.FirstOrDefault(x => x.Mode == "recompute").R;
            Console.WriteLine();
            if (repeat > 1)
                foreach (var mode in modes)
                    Console.WriteLine($"{mode}: s/prompt of the {repeat} runs: {string.Join(", ", times[mode].Select(t => t.ToString("F4")))}; median {Median(mode):F4}");
            Console.WriteLine($"| mode | s/prompt (wall{(repeat > 1 ? $", median of {repeat}" : "")}) | forwarded tokens/prompt | LM forwards/prompt | rows/forward | time vs prefix cache | trees vs prefix cache |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var (mode, label, r) in results)
            {
                if (r is null) continue;
                string ratio = cached is null ? "" : (Median(mode) / Median("cached")).ToString("F2");
                string trees = cached is null || mode == "cached" ? "" : Compare(Path.Combine(dir, "cached"), Path.Combine(dir, mode), mode.StartsWith("batched", StringComparison.Ordinal) ? 1e-4 : 1e-3);
                Console.WriteLine($"| {label} | {Median(mode):F3} | {r.TokensPerPrompt:F0} | {r.Counts.Calls / (double)entries.Count:F1} | {r.Counts.RowsPerForward:F1} | {ratio} | {trees} |");
            }
            if (cached is not null && recompute is not null)
                Console.WriteLine($"prefix cache vs re-encode: {Median("recompute") / Median("cached"):F2}x faster, {recompute.TokensPerPrompt / cached.TokensPerPrompt:F2}x fewer tokens; " +
                                  $"mean nodes/prompt {cached.Nodes:F1}, mean sentence {cached.MeanSentenceTokens:F1} tokens");
            foreach (var b in modes.Where(m => m.StartsWith("batched", StringComparison.Ordinal)))
                foreach (var m in new[] { "cached", "recompute" }.Where(times.ContainsKey))
                    Console.WriteLine($"{b} (N = {SizeOf(b)}) vs {(m == "cached" ? "prefix cache" : "re-encode")}: {Median(m) / Median(b):F2}x faster (median); per run: " +
                                      string.Join(", ", times[m].Zip(times[b], (x, y) => (x / y).ToString("F2"))));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>One line per sampled prompt (<c>--progress</c>).</summary>
    static bool Progress;

    sealed record Result(double SecondsPerPrompt, double TokensPerPrompt, double Nodes, double MeanSentenceTokens, ForwardStats.Counts Counts);

    static Result Sample(VisionLanguageModel vlm, IReadOnlyList<PromptEntry> entries, string outDir, ImagePathRule rule, SampleOptions o, string mode)
    {
        var before = ForwardStats.Snapshot();
        var sw = Stopwatch.StartNew();
        var recs = SampleRunner.Run(vlm, entries, outDir, new SampleStageOptions(o, PromptTemplate.Default, rule, Shard.All),
            Progress ? r => Console.WriteLine($"    {mode}: prompt {r.Id}: {r.Nodes} nodes, depth {r.Depth}, {r.ForwardedTokens} tokens, {r.Seconds:F1} s") : null);
        double seconds = sw.Elapsed.TotalSeconds;
        var counts = ForwardStats.Snapshot() - before;
        Console.WriteLine($"  {mode}: {recs.Count} prompts in {seconds:F1} s; {counts.Calls} forwards, {counts.Rows} rows, {counts.Tokens} positions");
        double meanSentence = Directory.GetFiles(outDir, "*.json").Where(f => !f.EndsWith("kernels.json", StringComparison.Ordinal))
            .SelectMany(f => TreeFile.Read(f).DescendantsAndSelf().Skip(1)).DefaultIfEmpty().Average(n => n?.NumTokens ?? 0);
        return new Result(seconds / recs.Count, recs.Average(r => (double)r.ForwardedTokens), recs.Average(r => (double)r.Nodes), meanSentence, counts);
    }

    /// <summary>"equal (k trees)" when every tree of <paramref name="other"/> has the same texts and finality as
    /// <paramref name="reference"/>'s and scores within <paramref name="tol"/>, else the number that differ.</summary>
    static string Compare(string reference, string other, double tol)
    {
        var files = Directory.GetFiles(reference, "*.json").Where(f => !f.EndsWith("kernels.json", StringComparison.Ordinal)).ToList();
        var firsts = new List<string>();
        foreach (var f in files)
            if (FirstDifference(TreeFile.Read(f), TreeFile.Read(Path.Combine(other, Path.GetFileName(f))), tol, Path.GetFileNameWithoutExtension(f)) is { } d)
                firsts.Add(d);
        foreach (var d in firsts) Console.WriteLine($"  trees differ: {d}");
        return firsts.Count == 0 ? $"equal ({files.Count} trees, scores within {tol:0e0})" : $"{firsts.Count} of {files.Count} trees differ";
    }

    /// <summary>The first node (depth first) where the trees differ in text, finality, child count or score beyond
    /// <paramref name="tol"/>, described; null when they match.</summary>
    static string? FirstDifference(TreeNode a, TreeNode b, double tol, string path)
    {
        if (a.Text != b.Text) return $"{path}: text differs";
        if (a.IsFinal != b.IsFinal) return $"{path}: finality differs";
        if (Math.Abs(a.Score - b.Score) > tol) return $"{path}: score {b.Score:R} vs {a.Score:R} (|d| {Math.Abs(a.Score - b.Score):0.0e0})";
        if (a.Children.Count != b.Children.Count) return $"{path}: {b.Children.Count} children vs {a.Children.Count}";
        for (int i = 0; i < a.Children.Count; i++)
            if (FirstDifference(a.Children[i], b.Children[i], tol, $"{path}/{i}") is { } d) return d;
        return null;
    }

    static (VisionLanguageModel, IReadOnlyList<PromptEntry>, ImagePathRule, string) World(string dir, int prompts, ScalarType dtype)
    {
        var defaults = new WorldDemoOptions { OutDir = dir, CacheDir = DemoVerb.DefaultCache() };
        var sw = Stopwatch.StartNew();
        var paths = WorldBaseModels.BuildOrLoad(defaults.CacheDir, defaults.Seed, defaults.World, defaults.Models, PromptTemplate.Default);
        Console.WriteLine($"base models: {Path.GetDirectoryName(paths.LlavaDir)} ({(paths.FromCache ? "cached" : $"built in {sw.Elapsed.TotalSeconds:F0} s")})");
        var gen = new SceneGenerator(defaults.Seed, defaults.World);
        var csr = Path.Combine(dir, "data", "csr");
        WorldDataset.Write(gen, SceneGenerator.CsrStream, prompts, csr);
        var entries = PromptFile.Read(Path.Combine(csr, "prompts.json"));
        var vlm = VisionLanguageModel.Load(paths.LlavaDir, dtype);
        var cfg = vlm.Model.Config;
        long parameters = vlm.Model.language_model.parameters().Sum(p => p.numel());
        string what = $"the embedded world's base LLaVA (seed {defaults.Seed}, demo settings; language model {cfg.TextConfig.NumHiddenLayers} layers x hidden {cfg.TextConfig.HiddenSize}, " +
                      $"vocab {cfg.TextConfig.VocabSize}, {parameters / 1e6:F2} M parameters), the demo's CSR prompts (stream {SceneGenerator.CsrStream})";
        return (vlm, entries, new ImagePathRule(Path.Combine(csr, "images")), what);
    }

    static (VisionLanguageModel, IReadOnlyList<PromptEntry>, ImagePathRule, string) Mid(string dir, int prompts, double periodBias, int logitScale, ScalarType dtype)
    {
        var vlm = PipelineReport.MidSize(periodBias, logitScale);
        if (dtype != ScalarType.Float32) vlm.Model.to(dtype);
        var entries = PipelineReport.Images(dir, prompts);
        return (vlm, entries, new ImagePathRule(dir),
            $"random mid-size LLaVA (text hidden 256 x 4 layers, vocab 32064; vision 336 px / 14 = 576 image tokens, hidden 64 x 2 layers; output layer x {logitScale}, '.' logit = {periodBias * logitScale} * <h, u>), {(dtype == ScalarType.BFloat16 ? "bf16" : "fp32")}");
    }

    static string Text(string[] args, string name, string def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
    }

    static int Int(string[] args, string name, int def)
    {
        var t = Text(args, name, def.ToString());
        return int.TryParse(t, out int v) ? v : throw new ArgumentException($"{name} {t}: expected an integer");
    }
}
