using System.Diagnostics;
using Csr.Native.Profiling;
using Csr.Train.Adapters;
using Csr.Train.Dpo;
using Csr.Train.Models;
using Csr.Train.Sampling;
using Csr.Train.Scoring;

namespace Csr.Train.Pipeline;

/// <summary>One finished round.</summary>
public sealed record CsrRoundResult(int Round, int Prompts, int Trees, int Pairs, int DpoSteps, double? FinalLoss,
    double? FinalRewardMargin, long ForwardedTokens, string ModelDir, double Seconds, bool Resumed)
{
    /// <summary>Seconds per stage of this round: sample, score, construct, dpo (with its reference pass), merge.</summary>
    public IReadOnlyDictionary<string, double> StageSeconds { get; init; } = new Dictionary<string, double>();
}

/// <summary>
/// <c>csr-train run</c> as a library call: N rounds in one process, each model loaded once per round, all in
/// a run directory with <c>manifest.json</c> and <c>round-K/{trees,scored,preferences.json,dpo,model}</c>.
/// Every stage resumes: sample/score skip finished prompts, DPO restarts from its last checkpoint, finished
/// rounds are skipped and the next round starts from the saved merged model.
/// </summary>
public sealed class CsrRun
{
    readonly CsrRunOptions _o;

    public CsrRun(CsrRunOptions options)
    {
        options.Validate();
        _o = options;
    }

    public IStageProgress Progress { get; init; } = NoProgress.Instance;

    /// <summary>Called after each round with the round's merged model (e.g. to evaluate it); the model stays owned by the run.</summary>
    public Action<CsrRoundResult, VisionLanguageModel>? OnRoundEnd { get; init; }

    /// <param name="baseModel">Round 1 base (not disposed by the run).</param>
    /// <param name="scorer">CLIP scorer, loaded once for all rounds.</param>
    /// <param name="manifestOptions">Every option as given (written to the manifest).</param>
    /// <param name="inputs">Input files / directories to hash into the manifest (name -> path).</param>
    public List<CsrRoundResult> Run(VisionLanguageModel baseModel, ISentenceScorer scorer, IReadOnlyList<PromptEntry> prompts,
        IReadOnlyDictionary<string, object?> manifestOptions, IReadOnlyDictionary<string, string> inputs)
    {
        Directory.CreateDirectory(_o.OutDir);
        var manifest = CheckResumable(_o.OutDir, manifestOptions, inputs);
        if (manifest == null)
        {
            manifest = RunManifest.Create(manifestOptions, _o.Seed, inputs);
            manifest.Save(_o.OutDir);
        }
        else Progress.Message($"resuming run in {_o.OutDir} (completed: {string.Join(", ", manifest.Completed)})");
        var log = new JsonlLog(Path.Combine(_o.OutDir, "run_log.jsonl"));
        TorchSharp.torch.manual_seed(_o.Seed);

        var results = new List<CsrRoundResult>();
        VisionLanguageModel vlm = baseModel;
        string? filesFrom = baseModel.Source;
        string? weightsFrom = baseModel.Source; // where the current model's weights are on disk (DPO keys its state by them)
        try
        {
            string? pendingLoad = null; // a finished round's merged model: the base of the next unfinished round
            for (int round = 1; round <= _o.Iterations; round++)
            {
                string rd = CsrRunOptions.RoundDir(_o.OutDir, round);
                string modelDir = Path.Combine(rd, "model");
                if (manifest.IsCompleted($"round-{round}/merge") && Directory.Exists(modelDir))
                {
                    Progress.Message($"run: round {round} complete, skipped");
                    pendingLoad = modelDir;
                    continue;
                }
                if (pendingLoad != null)
                {
                    if (!ReferenceEquals(vlm, baseModel)) vlm.Dispose();
                    vlm = VisionLanguageModel.Load(pendingLoad, _o.DType, _o.Device);
                    filesFrom = weightsFrom = pendingLoad;
                    pendingLoad = null;
                }
                var r = RunRound(round, rd, vlm, filesFrom, weightsFrom, scorer, prompts, manifest, log);
                weightsFrom = r.ModelDir; // the model merged in place is the one saved there
                results.Add(r);
                OnRoundEnd?.Invoke(r, vlm);
            }
        }
        finally
        {
            if (!ReferenceEquals(vlm, baseModel)) vlm.Dispose();
        }
        return results;
    }

    /// <summary>
    /// The manifest of an earlier run in <paramref name="outDir"/> (null when there is none) after checking that this run
    /// may continue it: every option but <see cref="RunManifest.ResultNeutralOptions"/> as recorded, every input file
    /// unchanged. Otherwise a one-line error names the option or input. Cheap: callers run it before loading models.
    /// </summary>
    public static RunManifest? CheckResumable(string outDir, IReadOnlyDictionary<string, object?> manifestOptions, IReadOnlyDictionary<string, string> inputs)
    {
        var manifest = RunManifest.TryRead(outDir);
        if (manifest == null) return null;
        if (manifest.OptionMismatch(manifestOptions) is { } m)
            throw new Cli.CsrUserException($"--out {outDir} was run with --{m.Name} {m.Recorded ?? "(not set)"}; " +
                                           $"this run has --{m.Name} {m.Given ?? "(not set)"}: use another --out or the same options");
        foreach (var (k, path) in inputs)
            if (manifest.InputHash(k) is { Length: > 0 } h && h != RunManifest.HashPath(path))
                throw new InvalidDataException($"{Path.Combine(outDir, RunManifest.FileName)}: input \"{k}\" ({path}) changed since this run started; use a new --out");
        return manifest;
    }

    CsrRoundResult RunRound(int round, string rd, VisionLanguageModel vlm, string? filesFrom, string? weightsFrom, ISentenceScorer scorer,
        IReadOnlyList<PromptEntry> prompts, RunManifest manifest, JsonlLog log)
    {
        using var range = Nvtx.Range("round", round);
        var sw = Stopwatch.StartNew();
        string key = $"round-{round}";
        bool resumed = manifest.Completed.Any(c => c.StartsWith(key + "/", StringComparison.Ordinal));
        var selected = SampleStage.Select(prompts, Shard.All, _o.Limit);
        string trees = Path.Combine(rd, "trees"), scored = Path.Combine(rd, "scored"), prefs = Path.Combine(rd, "preferences.json");
        string dpoDir = Path.Combine(rd, "dpo"), modelDir = Path.Combine(rd, "model");

        var stages = new Dictionary<string, double>();
        var stage = Stopwatch.StartNew();
        void StageDone(string name) { stages[name] = stage.Elapsed.TotalSeconds; stage.Restart(); }

        // sample
        Progress.Start($"round {round}: sample", selected.Count);
        long forwarded = 0;
        SampleRunner.Run(vlm, selected, trees, new SampleStageOptions(_o.Sample, _o.Template, _o.Images, Shard.All, ImageAspectRatio: _o.SampleImageAspectRatio), rec =>
        {
            forwarded += rec.ForwardedTokens;
            log.Write("sample", new { round, rec.Id, rec.Nodes, rec.Depth, forwarded_tokens = rec.ForwardedTokens, rec.Seconds, rec.Skipped });
            Progress.Advance($"round {round}: sample");
        });
        manifest.MarkCompleted(key + "/sample", _o.OutDir);
        var kernels = Csr.Kernels.KernelStats.Snapshot();  // the ops of this round's stages, summed into round-K/kernels.json
        StageDone("sample");

        // score
        Progress.Start($"round {round}: score", selected.Count);
        ScoreStage.Run(selected, trees, scored, _o.Images, scorer, _o.ScoreBatch, rec =>
        {
            log.Write("score", new { round, rec.Id, rec.Scored, rec.Cleaned, rec.Skipped, missing_tree = rec.MissingTree });
            Progress.Advance($"round {round}: score");
        });
        manifest.MarkCompleted(key + "/score", _o.OutDir);
        kernels.Merge(Csr.Kernels.KernelStats.Snapshot());
        StageDone("score");

        // construct
        Csr.Kernels.KernelStats.Reset();
        var built = ConstructStage.Run([scored], selected, _o.Construct);
        kernels.Merge(Csr.Kernels.KernelStats.Snapshot());
        PreferenceFile.Write(prefs, built.Pairs);
        log.Write("construct", new { round, pairs = built.Pairs.Count, missing = built.MissingTrees.Count, no_final_path = built.NoFinalPath.Count, cleaned = built.CleanedNodes });
        manifest.MarkCompleted(key + "/construct", _o.OutDir);
        StageDone("construct");
        if (built.Pairs.Count == 0)
            throw new InvalidDataException($"round {round}: no preference pairs could be built from {selected.Count} prompts (see {scored})");

        // dpo (resumes from its last checkpoint)
        var dpoOptions = _o.Dpo with { Seed = _o.Dpo.Seed + round - 1 };
        var total = new DpoTrainer(new NullPolicy(), dpoOptions, dpoDir).TotalSteps(built.Pairs.Count);
        Progress.Start($"round {round}: dpo", total);
        var dpo = DpoStage.Run(vlm, built.Pairs, dpoDir, dpoOptions, _o.Template, _o.Images, resume: true,
            onStep: s => { log.Write("dpo", s); Progress.Advance($"round {round}: dpo"); },
            onReference: Progress.Counter($"round {round}: dpo reference"),
            maxLength: _o.MaxLength, modelPath: weightsFrom, onNotice: Progress.Message);
        manifest.MarkCompleted(key + "/dpo", _o.OutDir);
        kernels.Merge(Csr.Kernels.KernelStats.Snapshot());
        kernels.Write(rd);
        WriteRunKernels();
        StageDone("dpo");

        // merge (in memory; saved as the next round's base)
        MergeStage.MergeInPlace(vlm);
        MergeStage.Save(vlm, modelDir, filesFrom);
        manifest.MarkCompleted(key + "/merge", _o.OutDir);
        StageDone("merge");

        var last = dpo.Training.Log.LastOrDefault();
        var result = new CsrRoundResult(round, selected.Count, Directory.GetFiles(scored, "*.json").Count(f => Path.GetFileName(f) != Csr.Kernels.KernelReport.FileName), built.Pairs.Count,
            dpo.Training.Steps, last?.Loss, last?.RewardsMargins, forwarded, modelDir, sw.Elapsed.TotalSeconds, resumed)
            { StageSeconds = stages };
        log.Write("round", result);
        return result;
    }

    /// <summary>The run directory's kernels.json: the sum of the rounds' round-K/kernels.json.</summary>
    void WriteRunKernels()
    {
        var total = new Csr.Kernels.KernelReport();
        for (int round = 1; round <= _o.Iterations; round++)
            if (Csr.Kernels.KernelReport.TryRead(CsrRunOptions.RoundDir(_o.OutDir, round)) is { } r) total.Merge(r);
        total.Write(_o.OutDir);
    }

    /// <summary>Only used to count steps before training starts.</summary>
    sealed class NullPolicy : IDpoModel
    {
        public TorchSharp.torch.Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch) => throw new NotSupportedException();
        public IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr) => [];
        public IDisposable ReferenceMode() => throw new NotSupportedException();
        public void SetTraining(bool training) { }
    }
}
