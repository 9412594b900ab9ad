using System.Diagnostics;
using Csr.Models.Llama;
using Csr.Models.Llava;
using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Dpo;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Pipeline;

/// <summary>
/// End-to-end pipeline figures (not BenchmarkDotNet: one run each, model built once outside the timed parts):
/// prefix-cached vs re-encoding (<c>--no-prefix-cache</c>) sampling at the official settings on a mid-size
/// random LLaVA (forwarded tokens and wall time per prompt), and DPO step time / peak RSS.
/// <c>dotnet run -c Release --project bench/Csr.Bench -- --pipeline [--prompts N] [--max-length C] [--dpo-steps S]</c>
/// </summary>
public static class PipelineReport
{
    public static void Run(string[] args)
    {
        TorchRuntime.EnsureInitialised();
        int prompts = Arg(args, "--prompts", 2), maxLength = Arg(args, "--max-length", 1024), dpoSteps = Arg(args, "--dpo-steps", 4);
        double periodBias = Arg(args, "--period-bias-x100", 80) / 100.0;
        string dir = Directory.CreateTempSubdirectory("csr-bench-").FullName;
        try
        {
            using var vlm = MidSize(periodBias);
            Console.WriteLine($"model: random LLaVA, text hidden 256 x 4 layers, vocab 32064; vision 336px/14 (576 patches, as LLaVA-1.5) hidden 64 x 2 layers; " +
                $"'.' logit = {periodBias} * <h, u> (u a fixed random unit vector) so sentences end as a trained model's do; threads {torch.get_num_threads()}");
            var entries = Images(dir, prompts);
            var rule = new ImagePathRule(dir);
            var sample = new SampleOptions { MaxLength = maxLength }; // official defaults otherwise: 5/5/5, penalty 3, 70 new tokens
            Console.WriteLine($"sampling: {prompts} prompts, num_beams 5, groups 5, token beams 5, diversity 3.0, max_new_tokens 70, max_length {maxLength}");
            var cached = Sample(vlm, entries, Path.Combine(dir, "cached"), rule, sample with { PrefixCache = true });
            var recompute = Sample(vlm, entries, Path.Combine(dir, "recompute"), rule, sample with { PrefixCache = false });
            Console.WriteLine($"| mode | nodes/prompt | forwarded tokens/prompt | seconds/prompt |");
            Console.WriteLine($"|---|---|---|---|");
            Console.WriteLine($"| prefix cache (default) | {cached.Nodes:F0} | {cached.Tokens:F0} | {cached.Seconds:F2} |");
            Console.WriteLine($"mean sentence length: {MeanTokens(Path.Combine(dir, "cached")):F1} tokens");
            Console.WriteLine($"| --no-prefix-cache | {recompute.Nodes:F0} | {recompute.Tokens:F0} | {recompute.Seconds:F2} |");
            Console.WriteLine($"ratio: {recompute.Tokens / cached.Tokens:F2}x fewer forwarded tokens, {recompute.Seconds / cached.Seconds:F2}x less time");
            bool same = Directory.GetFiles(Path.Combine(dir, "cached"), "*.json").All(f =>
                TreeFile.Serialize(TreeFile.Read(f)).Length > 0 && TreesMatch(TreeFile.Read(f), TreeFile.Read(Path.Combine(dir, "recompute", Path.GetFileName(f)))));
            Console.WriteLine($"trees identical (texts, finality; scores within 1e-3): {same}");

            if (dpoSteps > 0)
            foreach (bool fused in new[] { false, true })
                Dpo(vlm, entries, rule, Path.Combine(dir, fused ? "dpo-fused" : "dpo"), dpoSteps, fused);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    static int Arg(string[] args, string name, int def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def;
    }

    static double MeanTokens(string dir) =>
        Directory.GetFiles(dir, "*.json").SelectMany(f => TreeFile.Read(f).DescendantsAndSelf().Skip(1)).Average(n => n.NumTokens ?? 0);

    internal static VisionLanguageModel MidSize(double periodBias, double logitScale = 1)
    {
        var text = new LlamaConfig
        {
            VocabSize = 32064, HiddenSize = 256, IntermediateSize = 688, NumHiddenLayers = 4, NumAttentionHeads = 8,
            NumKeyValueHeads = 8, MaxPositionEmbeddings = 4096, RmsNormEps = 1e-5, BosTokenId = 1, EosTokenIds = [2], PadTokenId = BenchTokenizer.Pad,
        };
        torch.manual_seed(1); // parts of the model draw from the global generator: the same model in every run
        var cfg = LlavaConfig.Tiny(text, BenchTokenizer.Image, imageSize: 336, patchSize: 14, visionHidden: 64, visionLayers: 2, visionHeads: 4);
        var m = new LlavaForConditionalGeneration(cfg, init: new Generator(1));
        m.eval();
        using (no_grad())
        {
            // final hidden states have rms 1, so <h, u> ~ N(0, 1) across contexts: '.' wins the argmax in a few percent of them
            var u = randn(256, generator: new Generator(2));
            // logitScale > 1 spreads the logits (std 0.32 * scale at init std 0.02): peaked next-token distributions, so
            // sibling scores do not tie within rounding as a near-uniform random model's do
            m.language_model.lm_head!.weight!.mul_(logitScale);
            m.language_model.lm_head!.weight![BenchTokenizer.Period].copy_(u / u.norm() * periodBias * logitScale);
        }
        return new VisionLanguageModel(m, new BenchTokenizer(), new ImageProcessor(ImageProcessorConfig.ForSize(336)));
    }

    internal static List<PromptEntry> Images(string dir, int n)
    {
        var list = new List<PromptEntry>();
        var r = new Random(3);
        for (int i = 0; i < n; i++)
        {
            using var bmp = new SKBitmap(400, 300);
            for (int y = 0; y < 300; y++) for (int x = 0; x < 400; x++) bmp.SetPixel(x, y, new SKColor((byte)r.Next(256), (byte)r.Next(256), (byte)r.Next(256)));
            using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(dir, $"{i}.png"), data.ToArray());
            list.Add(new PromptEntry($"b{i}", $"{i}.png", "Describe this image in detail.\n<image>"));
        }
        return list;
    }

    static (double Nodes, double Tokens, double Seconds) Sample(VisionLanguageModel vlm, List<PromptEntry> entries, string outDir, ImagePathRule rule, SampleOptions o)
    {
        var recs = SampleRunner.Run(vlm, entries, outDir, new SampleStageOptions(o, PromptTemplate.Default, rule, Shard.All),
            r => Console.WriteLine($"  {(o.PrefixCache ? "prefix cache" : "no prefix cache")}: prompt {r.Id}: {r.Nodes} nodes, depth {r.Depth}, {r.ForwardedTokens} tokens, {r.Seconds:F1} s"));
        return (recs.Average(r => r.Nodes), recs.Average(r => r.ForwardedTokens), recs.Average(r => r.Seconds));
    }

    static bool TreesMatch(TreeNode a, TreeNode b) =>
        a.Text == b.Text && a.IsFinal == b.IsFinal && Math.Abs(a.Score - b.Score) < 1e-3 && a.Children.Count == b.Children.Count
        && a.Children.Zip(b.Children).All(x => TreesMatch(x.First, x.Second));

    static void Dpo(VisionLanguageModel vlm, List<PromptEntry> entries, ImagePathRule rule, string outDir, int steps, bool fused)
    {
        var words = string.Join(" ", Enumerable.Range(0, 120).Select(i => $"w{i}"));
        var pairs = Enumerable.Range(0, steps).Select(i => entries[i % entries.Count]).Select((p, i) =>
            PreferencePair.Create(p.Id + "_" + i, p.Image, p.HumanTurn, words + " .", string.Join(" ", words.Split(' ').Reverse()) + " .")).ToList();
        var options = new DpoOptions { LoraR = 16, LoraAlpha = 32, LearningRate = 1e-4, WarmupRatio = 0, SaveSteps = 0, Fused = fused };
        using var clone = CloneModel(vlm);
        var examples = DpoDataset.Build(pairs, clone, PromptTemplate.Default, rule);
        var policy = new LlavaDpoModel(clone, options);
        var sw = Stopwatch.StartNew();
        var result = new DpoTrainer(policy, options, outDir).Train(examples, resume: false);
        double total = sw.Elapsed.TotalSeconds;
        double stepMs = result.Log.Skip(1).DefaultIfEmpty(result.Log[0]).Average(l => l.Seconds) * 1000;
        Process.GetCurrentProcess().Refresh();
        Console.WriteLine($"dpo ({(fused ? "--fused" : "reference")}): {examples.Count} pairs of {examples[0].Chosen.Ids.Length}+{examples[0].Rejected.Ids.Length} tokens, LoRA r 16 on 28 projections + projector; " +
            $"{stepMs:F0} ms/step (batch 1 pair, after the first), total {total:F1} s incl. reference pass; peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB");
    }

    static VisionLanguageModel CloneModel(VisionLanguageModel vlm)
    {
        var m = new LlavaForConditionalGeneration(vlm.Model.Config);
        using (no_grad())
            foreach (var (name, p) in m.named_parameters()) p.copy_(vlm.Model.get_parameter(name)!);
        m.eval();
        return new VisionLanguageModel(m, vlm.Tokenizer, vlm.Images);
    }
}
