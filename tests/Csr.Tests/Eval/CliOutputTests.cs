using System.Text.Json;
using CommandLine;
using Csr.Train.Cli;
using Csr.Train.Eval;

namespace Csr.Tests.Eval;

/// <summary>Output modes of the verbs: log lines when redirected, --json, --quiet (through eval pope with a fake model).</summary>
[Collection("EvalVerb")]
public class CliOutputTests
{
    private sealed class AlwaysYes : IVisionChatModel
    {
        public IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens) =>
            prompts.Select(_ => "Yes, there is.").ToList();
        public void Dispose() { }
    }

    /// <summary>Runs `eval pope` on <paramref name="n"/> questions (even ids labelled no) with a model that always says
    /// yes, one question per batch, stdout and stderr captured (as redirected streams).</summary>
    private static (int Rc, string Out, string Err) Pope(int n, params string[] extra)
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-clioutput-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var saved = VisionChatModelLoader.Open;
        try
        {
            var questions = Path.Combine(dir, "q.jsonl");
            PopeQuestionFile.Write(questions, Enumerable.Range(1, n).Select(i =>
                new PopeQuestion(i, $"img{i % 3}.jpg", "Is there a dog in the image?", i % 2 == 0 ? "no" : "yes")));
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(images);
            for (int i = 0; i < 3; i++) File.WriteAllBytes(Path.Combine(images, $"img{i}.jpg"), []);
            VisionChatModelLoader.Open = (_, _) => new AlwaysYes();
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            int rc = CliApp.Run(["eval", "pope", "--model", dir, "--questions", questions, "--images", images, "--batch-size", "1", .. extra],
                stdout, stderr);
            return (rc, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            VisionChatModelLoader.Open = saved;
            Directory.Delete(dir, true);
        }
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    [Fact]
    public void LineProgressOfA100StepStageWritesStartTenthsAndEndOnce()
    {
        using var w = new StringWriter();
        var p = new LineProgress(w);
        p.Start("train CLIP", 100);
        for (int i = 0; i < 100; i++) p.Advance("train CLIP");
        p.Advance("train CLIP"); // past the end: nothing more
        p.Finish();
        var lines = Lines(w.ToString());
        Assert.InRange(lines.Length, 1, 12);
        Assert.Equal(lines.Length, lines.Distinct().Count());
        Assert.Equal("train CLIP: start (100)", lines[0]);
        Assert.Equal(Enumerable.Range(1, 9).Select(k => $"train CLIP: {10 * k}% ({10 * k}/100)"), lines[1..^1]);
        Assert.StartsWith("train CLIP: done 100/100 in ", lines[^1]);
    }

    [Fact]
    public void ACounterOfBatchedWorkStartsWithItsTotalAndEndsDoneAtIt()
    {
        using var w = new StringWriter();
        var p = new LineProgress(w);
        var counter = Csr.Train.Pipeline.StageProgressExtensions.Counter(p, "dpo reference");
        for (int done = 4; done <= 96; done += 4) counter(done, 96); // 24 batches of 4 pairs
        p.Finish();
        var lines = Lines(w.ToString());
        Assert.Equal("dpo reference: start (96)", lines[0]);
        Assert.StartsWith("dpo reference: done 96/96 in ", lines[^1]);
        Assert.DoesNotContain(lines, l => l.Contains("ended at"));
    }

    [Fact]
    public void LineProgressEndsStagesThatStopShortAndSkipsTenthsPassedInOneStep()
    {
        using var w = new StringWriter();
        var p = new LineProgress(w);
        p.Start("dpo", 10);
        p.Advance("dpo", 3);
        p.Advance("dpo", 1);
        p.Finish();
        p.Finish();
        var lines = Lines(w.ToString());
        Assert.Equal(new[] { "dpo: start (10)", "dpo: 30% (3/10)", "dpo: 40% (4/10)" }, lines[..3]);
        Assert.StartsWith("dpo: ended at 4/10 in ", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void RedirectedProgressOfA100QuestionEvalIsAtMost12LinesWithoutDuplicates()
    {
        var (rc, stdout, stderr) = Pope(100);
        Assert.True(rc == 0, stderr);
        var lines = Lines(stdout);
        var progress = lines.Where(l => l.StartsWith("POPE: ", StringComparison.Ordinal)).ToList();
        Assert.InRange(progress.Count, 2, 12);
        Assert.Equal(progress.Count, progress.Distinct().Count());
        Assert.Equal("POPE: start (100)", progress[0]);
        Assert.StartsWith("POPE: done 100/100", progress[^1]);
        Assert.DoesNotContain('\u001b', stdout); // no terminal control sequences in a log
        Assert.Equal("Accuracy: 0.5000", lines.Single(l => l.StartsWith("Accuracy", StringComparison.Ordinal)));
    }

    [Fact]
    public void JsonPrintsTheSummaryAsTheOnlyStdoutLineAndProgressOnStderr()
    {
        var (rc, stdout, stderr) = Pope(12, "--json");
        Assert.True(rc == 0, stderr);
        var lines = Lines(stdout);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var s = doc.RootElement;
        Assert.Equal("eval pope", s.GetProperty("verb").GetString());
        Assert.Equal(12, s.GetProperty("questions").GetInt32());
        Assert.Equal(6, s.GetProperty("tp").GetInt32());
        Assert.Equal(6, s.GetProperty("fp").GetInt32());
        Assert.Equal(0, s.GetProperty("tn").GetInt32());
        Assert.Equal(0, s.GetProperty("fn").GetInt32());
        Assert.Equal(0.5, s.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(1.0, s.GetProperty("yes_ratio").GetDouble(), 12);
        Assert.Equal(JsonValueKind.Null, s.GetProperty("out").ValueKind);
        Assert.Contains("POPE: start (12)", Lines(stderr));
    }

    [Fact]
    public void QuietPrintsOnlyTheSummary()
    {
        var (rc, stdout, stderr) = Pope(12, "--quiet");
        Assert.True(rc == 0, stderr);
        Assert.Equal(new[] { "TP 6  FP 6  TN 0  FN 0", "Accuracy: 0.5000", "Precision: 0.5000", "Recall: 1.0000", "F1 score: 0.6667", "Yes ratio: 1.0000" },
            Lines(stdout));
        Assert.Equal("", stderr);

        var (rcJson, json, errJson) = Pope(12, "--quiet", "--json");
        Assert.True(rcJson == 0, errJson);
        Assert.Equal("eval pope", JsonDocument.Parse(Assert.Single(Lines(json))).RootElement.GetProperty("verb").GetString());
        Assert.Equal("", errJson);
    }

    public static readonly TheoryData<string[]> VerbsWithRequiredOptions = new()
    {
        new[] { "run", "--model", "m", "--clip", "c", "--prompts", "p", "--out", "o" },
        new[] { "demo" },
        new[] { "sample", "--model", "m", "--prompts", "p", "--out", "o" },
        new[] { "score", "--clip", "c", "--prompts", "p", "--trees", "t", "--out", "o" },
        new[] { "dpo", "--model", "m", "--prefs", "p", "--out", "o" },
        new[] { "eval", "pope" },
        new[] { "merge", "--model", "m", "--adapter", "a", "--out", "o" },
        new[] { "generate", "--model", "m", "--image", "i", "--prompt", "p" },
    };

    [Theory]
    [MemberData(nameof(VerbsWithRequiredOptions))]
    public void EveryComputingVerbTakesQuietAndJson(string[] args)
    {
        using var help = new StringWriter();
        var parsed = new Parser(s => s.HelpWriter = help).ParseArguments([.. args, "--quiet", "--json"], VerbRegistry.Types);
        Assert.True(parsed.Tag == ParserResultType.Parsed, help.ToString());
        var verb = Assert.IsAssignableFrom<ComputeVerbBase>(parsed.Value);
        Assert.True(verb.Quiet);
        Assert.True(verb.Json);
    }
}
