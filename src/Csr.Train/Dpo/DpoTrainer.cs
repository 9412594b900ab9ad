using System.Diagnostics;
using System.Text.Json;
using Csr.Kernels;
using Csr.Native.Profiling;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>Raised when the loss or gradient stops being finite; the last good checkpoint is kept.</summary>
public sealed class DpoDivergedException(string message) : Exception(message);

/// <summary>What a DPO run did.</summary>
public sealed record DpoResult(int Steps, int StartStep, IReadOnlyList<DpoStepLog> Log, string? LastCheckpoint, int ReferenceComputed);

/// <summary>
/// DPO training loop (TRL semantics): reference log-probs computed once per pair (LoRA off, round-start
/// projector) and cached on disk; AdamW over the trainable groups; cosine schedule with warmup; gradient
/// accumulation; global-norm clipping; a JSONL line per optimizer step; checkpoints every N steps and at
/// the end; <c>resume</c> restores the latest checkpoint and reaches the same weights as an uninterrupted
/// run (data order and dropout seeds are functions of the seed and the micro-step).
/// </summary>
public sealed class DpoTrainer
{
    public const string LogFileName = "dpo_log.jsonl";

    readonly IDpoModel _model;
    readonly DpoOptions _o;
    readonly string _outDir;
    readonly FusedOps _ops;

    public DpoTrainer(IDpoModel model, DpoOptions options, string outDir)
    {
        options.Validate();
        _ops = FusedOps.For(options.Fused);
        _model = model;
        _o = options;
        _outDir = outDir;
    }

    /// <summary>Called after each optimizer step.</summary>
    public Action<DpoStepLog>? OnStep { get; init; }

    /// <summary>Called with (done, total) while reference log-probs are computed.</summary>
    public Action<int, int>? OnReference { get; init; }

    /// <summary>
    /// What the reference log-probs depend on (<see cref="DpoIdentity.ForReference"/>); the cache and the checkpoints
    /// are keyed by it. Null: the options and the pairs only.
    /// </summary>
    public DpoIdentity? Identity { get; init; }

    /// <summary>One-line notices (a discarded reference cache); null writes them to stderr.</summary>
    public Action<string>? OnNotice { get; init; }

    /// <summary>Total optimizer steps for a data set of <paramref name="examples"/> pairs.</summary>
    public int TotalSteps(int examples)
    {
        int micro = (examples + _o.BatchSize - 1) / _o.BatchSize;
        int steps = (micro + _o.GradientAccumulation - 1) / _o.GradientAccumulation * _o.Epochs;
        return _o.MaxSteps is int m ? Math.Min(m, steps) : steps;
    }

    public DpoResult Train(IReadOnlyList<DpoExample> examples, bool resume)
    {
        if (examples.Count == 0) throw new ArgumentException("DPO needs at least one preference pair");
        Directory.CreateDirectory(_outDir);
        var identity = (Identity ?? DpoIdentity.Empty).ForTraining(_o, examples);
        string? resumeFrom = resume ? DpoCheckpoint.Latest(_outDir) : null;
        if (resumeFrom != null) CheckResumable(resumeFrom, identity);
        else DpoCheckpoint.DeleteAll(_outDir); // a fresh start: checkpoints of an earlier run must not be resumed later
        int refComputed = ComputeReference(examples, out var refs);

        var groups = _model.TrainableGroups(_o.LearningRate, _o.ProjectorLearningRate);
        var optimizer = optim.AdamW(groups.Select(g => new TorchSharp.Modules.AdamW.ParamGroup(
            g.Parameters.Select(p => p.Parameter), lr: g.LearningRate, weight_decay: _o.WeightDecay)));
        var baseLrs = groups.Select(g => g.LearningRate).ToArray();
        var allParams = groups.SelectMany(g => g.Parameters.Select(p => p.Parameter)).ToList();

        int start = 0;
        var history = new List<DpoStepLog>();
        string? lastCkpt = null;
        string logPath = Path.Combine(_outDir, LogFileName);
        if (resumeFrom is { } ck)
        {
            start = DpoCheckpoint.Load(ck, groups, optimizer);
            history = DpoCheckpoint.History(ck);
            lastCkpt = ck;
            // the log keeps exactly the steps of the restored state
            File.WriteAllLines(logPath, history.Select(h => JsonSerializer.Serialize(h)));
        }
        else if (File.Exists(logPath)) File.Delete(logPath);

        int total = TotalSteps(examples.Count);
        var schedule = new CosineSchedule(total, _o.WarmupRatio); // as HF: max_steps, when set, is the schedule length
        var micro = MicroBatches(examples.Count);
        int perStep = _o.GradientAccumulation;
        int microPerEpoch = (examples.Count + _o.BatchSize - 1) / _o.BatchSize;

        _model.SetTraining(true);
        for (int step = start; step < total; step++)
        {
            using var stepRange = Nvtx.Range("dpo step", step + 1);
            var sw = Stopwatch.StartNew();
            double factor = schedule.Factor(step);
            var lrs = optimizer.ParamGroups.ToList();
            for (int g = 0; g < lrs.Count; g++) lrs[g].LearningRate = baseLrs[g] * factor;

            var acc = new double[7]; // loss, rc, rr, acc, margin, lpc, lpr
            int n = 0;
            var batches = micro.Skip(step * perStep).Take(perStep).ToList();
            foreach (var (mb, index) in batches.Select((b, i) => (b, i)))
            {
                using var scope = NewDisposeScope();
                using var quiet = Csr.Models.GcQuiet.Enter();
                torch.manual_seed(_o.Seed * 1_000_003 + step * perStep + index);
                var ex = mb.Select(i => examples[i]).ToList();
                var seqs = ex.Select(e => e.Chosen).Concat(ex.Select(e => e.Rejected)).ToList();
                var sums = _model.SequenceLogProbs(seqs);                                                   // [2B]
                var tokens = tensor(seqs.Select(q => (double)q.ScoredTokens).ToArray(), device: sums.device).to_type(sums.dtype); // [2B]
                var refSums = tensor(ex.Select(e => refs[e.CacheKey].Chosen).Concat(ex.Select(e => refs[e.CacheKey].Rejected)).ToArray(),
                    device: sums.device).to_type(sums.dtype);                                                // [2B]
                // sums for sigmoid / hinge, per-token means for IPO (TRL), for policy and reference alike
                var lp = DpoLoss.SequenceLogps(sums, tokens, _o.Loss);
                var rp = DpoLoss.SequenceLogps(refSums, tokens, _o.Loss);
                int b = ex.Count;
                var pc = lp.slice(0, 0, b, 1);
                var pr = lp.slice(0, b, 2 * b, 1);
                var rc = rp.slice(0, 0, b, 1);
                var rr = rp.slice(0, b, 2 * b, 1);
                using var o = _ops.DpoLoss(pc, pr, rc, rr, _o.Beta, _o.Loss);
                double loss = o.Loss.item<float>();
                if (!double.IsFinite(loss))
                    throw new DpoDivergedException($"DPO step {step + 1}: loss is {loss}; stopped. Last good checkpoint: {lastCkpt ?? "(none)"}");
                (o.Loss * ((double)b / (batches.Sum(x => x.Length)))).backward();
                acc[0] += loss * b;
                acc[1] += o.Metrics["rewards/chosen"] * b;
                acc[2] += o.Metrics["rewards/rejected"] * b;
                acc[3] += o.Metrics["rewards/accuracies"] * b;
                acc[4] += o.Metrics["rewards/margins"] * b;
                acc[5] += o.Metrics["logps/chosen"] * b;
                acc[6] += o.Metrics["logps/rejected"] * b;
                n += b;
            }
            double gradNorm = _o.MaxGradNorm > 0
                ? nn.utils.clip_grad_norm_(allParams, _o.MaxGradNorm)
                : GradNorm(allParams);
            if (!double.IsFinite(gradNorm))
                throw new DpoDivergedException($"DPO step {step + 1}: gradient norm is {gradNorm}; stopped. Last good checkpoint: {lastCkpt ?? "(none)"}");
            optimizer.step();
            optimizer.zero_grad();

            var rec = new DpoStepLog(step + 1, (double)((step + 1) * perStep) / microPerEpoch,
                acc[0] / n, acc[1] / n, acc[2] / n, acc[3] / n, acc[4] / n, acc[5] / n, acc[6] / n,
                baseLrs[0] * factor, gradNorm, sw.Elapsed.TotalSeconds);
            history.Add(rec);
            File.AppendAllText(logPath, JsonSerializer.Serialize(rec) + "\n");
            OnStep?.Invoke(rec);
            if (_o.SaveSteps > 0 && (step + 1) % _o.SaveSteps == 0 && step + 1 < total)
                lastCkpt = DpoCheckpoint.Save(_outDir, step + 1, groups, optimizer, history, identity);
        }
        _model.SetTraining(false);
        if (total > start || lastCkpt == null)
            lastCkpt = DpoCheckpoint.Save(_outDir, total, groups, optimizer, history, identity);
        optimizer.Dispose();
        return new DpoResult(total, start, history, lastCkpt, refComputed);
    }

    /// <summary>Refuses to resume a checkpoint trained for other inputs or options (one line naming what changed).</summary>
    void CheckResumable(string checkpoint, DpoIdentity identity)
    {
        string name = Path.GetFileName(checkpoint);
        var recorded = DpoIdentity.TryRead(Path.Combine(checkpoint, DpoIdentity.CheckpointFileName));
        if (recorded == null)
            throw new Cli.CsrUserException($"--resume: {name} in {_outDir} has no readable {DpoIdentity.CheckpointFileName}, so what it was trained on is unknown; remove {_outDir} or rerun without --resume");
        if (identity.DifferenceFrom(recorded) is { } diff)
            throw new Cli.CsrUserException($"--resume: {name} was trained {(diff.StartsWith(DpoIdentity.ModelKey + " ", StringComparison.Ordinal) ? "on" : "with")} {diff}; remove {_outDir} or rerun without --resume");
    }

    /// <summary>Micro-batches over all epochs: each epoch is a seeded permutation cut into batches.</summary>
    List<int[]> MicroBatches(int count)
    {
        var list = new List<int[]>();
        for (int e = 0; e < _o.Epochs; e++)
        {
            var order = Enumerable.Range(0, count).ToArray();
            new Random((int)(_o.Seed * 31 + e)).Shuffle(order);
            for (int i = 0; i < count; i += _o.BatchSize) list.Add(order[i..Math.Min(count, i + _o.BatchSize)]);
        }
        return list;
    }

    int ComputeReference(IReadOnlyList<DpoExample> examples, out Dictionary<string, (double Chosen, double Rejected)> refs)
    {
        var cache = new ReferenceLogProbCache(_outDir, Identity ?? DpoIdentity.Empty);
        if (cache.Discarded is { } why)
        {
            if (OnNotice != null) OnNotice(why);
            else Console.Error.WriteLine(why);
        }
        refs = new(StringComparer.Ordinal);
        var missing = examples.Where(e => !cache.TryGet(e.CacheKey, out _)).DistinctBy(e => e.CacheKey).ToList();
        int done = 0;
        using var range = Nvtx.Range("dpo reference");
        if (missing.Count > 0)
        {
            _model.SetTraining(false);
            using var refMode = _model.ReferenceMode();
            using var noGrad = no_grad();
            for (int i = 0; i < missing.Count; i += _o.BatchSize)
            {
                using var batchRange = Nvtx.Range("dpo reference batch", i / _o.BatchSize + 1);
                using var scope = NewDisposeScope();
                using var quiet = Csr.Models.GcQuiet.Enter();
                var ex = missing.Skip(i).Take(_o.BatchSize).ToList();
                var lp = _model.SequenceLogProbs(ex.Select(e => e.Chosen).Concat(ex.Select(e => e.Rejected)).ToList());
                var v = lp.to_type(ScalarType.Float64).data<double>().ToArray();
                for (int k = 0; k < ex.Count; k++)
                {
                    if (!double.IsFinite(v[k]) || !double.IsFinite(v[ex.Count + k]))
                        throw new DpoDivergedException($"reference log-probs of pair {ex[k].Id} are not finite ({v[k]}, {v[ex.Count + k]})");
                    cache.Add(ex[k].CacheKey, v[k], v[ex.Count + k]);
                }
                done += ex.Count;
                OnReference?.Invoke(done, missing.Count);
            }
        }
        foreach (var e in examples)
        {
            cache.TryGet(e.CacheKey, out var r);
            refs[e.CacheKey] = r;
        }
        return missing.Count;
    }

    static double GradNorm(IEnumerable<TorchSharp.Modules.Parameter> ps)
    {
        double s = 0;
        foreach (var p in ps)
            if (p.grad is { } g) s += g.pow(2).sum().item<float>();
        return Math.Sqrt(s);
    }
}
