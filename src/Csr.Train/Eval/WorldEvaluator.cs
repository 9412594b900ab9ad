using Csr.Native.Profiling;
using Csr.Train.Report;
using Csr.Train.World;

namespace Csr.Train.Eval;

/// <summary>The outcome of evaluating one model on the world's held-out scenes.</summary>
public sealed record WorldEvaluation(RoundReport Metrics, ChairResult Chair, IReadOnlyDictionary<string, PopeMetrics> Pope,
    IReadOnlyList<(PopeQuestion Question, string Answer)> PopeAnswers);

/// <summary>
/// Exact hallucination metrics on held-out scenes of the world: CHAIR over greedy descriptions
/// (object words matched with the world's synonyms) and POPE random / popular / adversarial over
/// yes/no probes, with frequencies and co-occurrence counted on the training stream.
/// </summary>
public sealed class WorldEvaluator
{
    public IReadOnlyList<Scene> Scenes { get; }
    public string ImagesDir { get; }
    public IReadOnlyDictionary<string, IReadOnlyList<PopeQuestion>> Questions { get; }
    public string DescribePrompt { get; }
    private readonly ChairEvaluator _chair;

    /// <param name="generator">The world.</param>
    /// <param name="dir">Folder for the held-out images (written once, reused).</param>
    /// <param name="sceneCount">Held-out scenes (EvalStream 0..n-1).</param>
    /// <param name="statisticsScenes">Training-stream scenes used for POPE's frequency and co-occurrence.</param>
    public WorldEvaluator(SceneGenerator generator, string dir, int sceneCount, int statisticsScenes = 2000,
        int popePerImage = 3, string? describePrompt = null)
    {
        Scenes = WorldDataset.Write(generator, SceneGenerator.EvalStream, sceneCount, dir);
        ImagesDir = Path.Combine(dir, "images");
        DescribePrompt = describePrompt ?? CaptionGrammar.DescribePrompts[0];
        var categories = generator.Vocabulary.Shapes.Select(s => s.Name).ToList();
        var stats = generator.GenerateMany(statisticsScenes, SceneGenerator.TrainStream)
            .Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet()));
        var sampler = new PopeSampler(categories, stats);
        var annotated = Scenes.Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet())).ToList();
        Questions = new Dictionary<string, IReadOnlyList<PopeQuestion>>
        {
            ["random"] = sampler.Sample(annotated, PopeSplit.Random, popePerImage, generator.Seed),
            ["popular"] = sampler.Sample(annotated, PopeSplit.Popular, popePerImage, generator.Seed),
            ["adversarial"] = sampler.Sample(annotated, PopeSplit.Adversarial, popePerImage, generator.Seed),
        };
        _chair = new ChairEvaluator(new ObjectLexicon(generator.Vocabulary.ObjectWords()));
    }

    public int PromptCount => Scenes.Count + Questions.Values.Sum(q => q.Count);

    public WorldEvaluation Evaluate(IVisionChatModel model, int round, int maxNewTokens = 48, Action<int>? progress = null)
    {
        using var range = Nvtx.Range("eval");
        var describe = Scenes.Select(s => new VisionPrompt(Path.Combine(ImagesDir, s.ImageFileName), DescribePrompt)).ToList();
        var captions = model.Answer(describe, maxNewTokens);
        progress?.Invoke(describe.Count);
        var chair = _chair.Evaluate(Scenes.Select((s, i) => new ChairCaption(s.Id, captions[i], s.Categories.ToHashSet())));

        var pope = new Dictionary<string, PopeMetrics>();
        var answers = new List<(PopeQuestion, string)>();
        var popeReports = new Dictionary<string, PopeSplitReport>();
        // the probes of all splits in one call: the model batches the questions about one image together
        var probes = Questions.SelectMany(kv => kv.Value).ToList();
        var all = model.Answer(probes.Select(q => new VisionPrompt(Path.Combine(ImagesDir, q.Image), q.Text)).ToList(), 6);
        if (all.Count != probes.Count) throw new InvalidOperationException($"model returned {all.Count} answers for {probes.Count} probes");
        int offset = 0;
        foreach (var (split, qs) in Questions)
        {
            var outs = all.Skip(offset).Take(qs.Count).ToList();
            offset += qs.Count;
            progress?.Invoke(qs.Count);
            var m = PopeMetrics.Compute(qs.Select((q, i) => (q.LabelYes, PopeAnswerRule.IsYes(outs[i]))));
            pope[split] = m;
            popeReports[split] = PopeSplitReport.From(m);
            answers.AddRange(qs.Select((q, i) => (q, outs[i])));
        }
        var metrics = new RoundReport(round, 100 * chair.ChairS, 100 * chair.ChairI, popeReports)
        {
            Coverage = 100 * chair.Coverage, ObjectsPerCaption = chair.MentionsPerCaption,
        };
        return new WorldEvaluation(metrics, chair, pope, answers);
    }
}
