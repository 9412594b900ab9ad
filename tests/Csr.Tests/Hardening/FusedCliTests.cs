using System.Text.Json;
using Csr.Kernels;

namespace Csr.Tests.Hardening;

/// <summary>
/// <c>--fused</c> as a user runs it: each stage with and without the flag on the make-tiny checkpoints, the same
/// results (byte-identical trees and preference files, scores and DPO losses within float32 tolerance), and each
/// stage's kernels.json saying which Csr.Kernels op ran on which path.
/// </summary>
public class FusedCliTests(TinyWorkspace ws) : IClassFixture<TinyWorkspace>
{
    // the official sampling settings (5 beams, 5 groups, 5 token beams, diversity 3, stop at '.' and EOS), short sentences
    string[] SampleArgs(string outDir, bool fused, string? dtype = null) => new[]
    {
        "sample", "--model", ws.Llava, "--prompts", ws.Prompts, "--images", ws.Images, "--out", outDir,
        "--max-new-tokens", "8", "--max-length", "60", "--limit", "2", "--seed", "5",
    }.Concat(fused ? ["--fused"] : []).Concat(dtype is null ? [] : ["--dtype", dtype]).ToArray();

    static void Ok(CliProcess.Result r) => Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{r.StdErr}\n{r.StdOut}");

    static KernelReport Kernels(string dir) =>
        KernelReport.TryRead(dir) ?? throw new Xunit.Sdk.XunitException($"no {KernelReport.FileName} in {dir}");

    static Dictionary<string, byte[]> Trees(string dir) =>
        CliProcess.Snapshot(dir).Where(kv => kv.Key.EndsWith(".json", StringComparison.Ordinal) && kv.Key != KernelReport.FileName)
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    string Sampled(string name, bool fused, string? dtype = null)
    {
        string dir = Path.Combine(ws.Root, name + (dtype is null ? "" : "-" + dtype));
        if (!File.Exists(Path.Combine(dir, KernelReport.FileName))) Ok(CliProcess.Run(SampleArgs(dir, fused, dtype)));
        return dir;
    }

    /// <summary>
    /// Both dtypes: bf16 logits take few distinct values, so candidates tie often and the plain step must order
    /// them as the fused step does (score descending, then index ascending), where topk leaves it unspecified.
    /// </summary>
    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void Sample_fused_at_the_official_stop_rule_runs_the_fused_beam_step_and_writes_the_reference_trees(string dtype)
    {
        string reference = Sampled("sample-reference", fused: false, dtype), fused = Sampled("sample-fused", fused: true, dtype);
        var expected = Trees(reference);
        Assert.Equal(2, expected.Count);
        Assert.Equal(expected.Keys.Order(), Trees(fused).Keys.Order());
        foreach (var (name, bytes) in Trees(fused)) Assert.True(expected[name].SequenceEqual(bytes), $"{name} differs between sample and sample --fused");

        var f = Kernels(fused);
        Assert.True(f.Calls(BeamStep.OpName, "fused") > 0, f.ToJson());
        Assert.Equal(0, f.Calls(BeamStep.OpName, "reference"));
        var r = Kernels(reference);
        Assert.True(r.Calls(BeamStep.OpName, "reference") > 0, r.ToJson());
        Assert.Equal(0, r.Calls(BeamStep.OpName, "fused"));
        // the same steps went through either path
        Assert.Equal(r.Calls(BeamStep.OpName, "reference"), f.Calls(BeamStep.OpName, "fused"));
    }

    [Fact]
    public void Score_construct_and_dpo_fused_give_the_reference_results_and_report_their_ops()
    {
        string trees = Sampled("sample-reference", fused: false);
        string Score(string name, bool fused)
        {
            string d = Path.Combine(ws.Root, name);
            Ok(CliProcess.Run(new[] { "score", "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--trees", trees, "--out", d, "--limit", "2" }
                .Concat(fused ? ["--fused"] : [])));
            return d;
        }
        string scoredR = Score("score-reference", false), scoredF = Score("score-fused", true);
        foreach (var (name, _) in Trees(scoredR))
        {
            var a = Csr.Train.Pipeline.TreeFile.Read(Path.Combine(scoredR, name)).DescendantsAndSelf().Skip(1).Select(n => n.ClipScore!.Value).ToList();
            var b = Csr.Train.Pipeline.TreeFile.Read(Path.Combine(scoredF, name)).DescendantsAndSelf().Skip(1).Select(n => n.ClipScore!.Value).ToList();
            Assert.NotEmpty(a);
            Assert.Equal(a.Count, b.Count);
            for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 + 1e-5 * Math.Abs(a[i]), $"{name} node {i}: {a[i]} vs {b[i]}");
        }
        Assert.True(Kernels(scoredF).Calls(ClipScoring.PairScoresOpName, "fused") > 0);
        Assert.True(Kernels(scoredR).Calls(ClipScoring.PairScoresOpName, "reference") > 0);

        string Construct(string name, bool fused)
        {
            string d = Path.Combine(ws.Root, name);
            Directory.CreateDirectory(d);
            Ok(CliProcess.Run(new[] { "construct", "--trees", scoredR, "--prompts", ws.Prompts, "--out", Path.Combine(d, "prefs.json") }
                .Concat(fused ? ["--fused"] : [])));
            return d;
        }
        string prefsR = Construct("construct-reference", false), prefsF = Construct("construct-fused", true);
        Assert.Equal(File.ReadAllBytes(Path.Combine(prefsR, "prefs.json")), File.ReadAllBytes(Path.Combine(prefsF, "prefs.json")));
        Assert.True(Kernels(prefsF).Calls(ClipScoring.SiblingRanksOpName, "fused") > 0);
        Assert.True(Kernels(prefsR).Calls(ClipScoring.SiblingRanksOpName, "reference") > 0);

        string Dpo(string name, bool fused)
        {
            string d = Path.Combine(ws.Root, name);
            Ok(CliProcess.Run(new[]
            {
                "dpo", "--model", ws.Llava, "--prefs", Path.Combine(prefsR, "prefs.json"), "--images", ws.Images, "--out", d,
                "--lr", "1e-3", "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0", "--warmup-ratio", "0", "--seed", "9",
            }.Concat(fused ? ["--fused"] : [])));
            return d;
        }
        string dpoR = Dpo("dpo-reference", false), dpoF = Dpo("dpo-fused", true);
        static List<JsonElement> Log(string d) =>
            File.ReadAllLines(Path.Combine(d, "dpo_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        var logR = Log(dpoR);
        var logF = Log(dpoF);
        Assert.NotEmpty(logR);
        Assert.Equal(logR.Count, logF.Count);
        for (int i = 0; i < logR.Count; i++)
            foreach (var key in logR[i].EnumerateObject().Select(p => p.Name).Where(k => (k.Contains("loss") || k.Contains("logps") || k.Contains("rewards")) && !k.Contains("accuracies")))
            {
                double a = logR[i].GetProperty(key).GetDouble(), b = logF[i].GetProperty(key).GetDouble();
                Assert.True(Math.Abs(a - b) <= 1e-4 + 1e-4 * Math.Abs(a), $"step {i + 1} {key}: reference {a} vs fused {b}");
            }
        var kf = Kernels(dpoF);
        Assert.True(kf.Calls(DpoLogRatio.FromHiddenOpName, "fused") > 0, kf.ToJson());
        Assert.True(kf.Calls(DpoLogRatio.FromHiddenOpName + ".backward", "fused") > 0, kf.ToJson());
        Assert.True(kf.Calls(DpoLoss.OpName, "reference") > 0);
        Assert.Equal(0, kf.Calls(DpoLogRatio.OpName, "reference"));
        var kr = Kernels(dpoR);
        Assert.True(kr.Calls(DpoLogRatio.OpName, "reference") > 0, kr.ToJson());
        Assert.Equal(0, kr.Calls(DpoLogRatio.FromHiddenOpName, "fused"));
    }
}
