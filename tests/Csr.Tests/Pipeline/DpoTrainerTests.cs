using Csr.Native;
using Csr.Train.Dpo;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

public class DpoTrainerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-dpo-").FullName;

    public DpoTrainerTests() => TorchRuntime.EnsureInitialised();

    public void Dispose() => Directory.Delete(_dir, true);

    static DpoOptions Opts => new() { LearningRate = 0.05, ProjectorLearningRate = 0.02, WarmupRatio = 0, SaveSteps = 2, GradientAccumulation = 2, Seed = 3 };

    static double Margin(ToyDpoModel m, DpoExample e)
    {
        using var _ = no_grad();
        var lp = m.SequenceLogProbs([e.Chosen, e.Rejected]);
        return lp[0].item<float>() - lp[1].item<float>();
    }

    [Fact]
    public void OneStep_RaisesTheChosenMinusRejectedMargin()
    {
        var m = new ToyDpoModel(1);
        var data = ToyDpoModel.Data(1, 5);
        double before = Margin(m, data[0]);
        var r = new DpoTrainer(m, Opts with { GradientAccumulation = 1, MaxSteps = 1 }, _dir).Train(data, resume: false);
        Assert.Equal(1, r.Steps);
        Assert.True(Margin(m, data[0]) > before + 1e-4, $"margin {before} -> {Margin(m, data[0])}");
        // first step: policy == reference up to dropout, so the sigmoid loss is near log 2
        Assert.InRange(r.Log[0].Loss, 0.3, 1.2);
        var line = File.ReadAllLines(Path.Combine(_dir, DpoTrainer.LogFileName)).Single();
        foreach (var key in new[] { "\"loss\"", "\"rewards/chosen\"", "\"rewards/rejected\"", "\"rewards/accuracies\"", "\"rewards/margins\"", "\"logps/chosen\"", "\"logps/rejected\"", "\"learning_rate\"" })
            Assert.Contains(key, line);
    }

    [Fact]
    public void ReferenceLogProbs_AreCachedOnDisk()
    {
        var data = ToyDpoModel.Data(3, 5);
        var r1 = new DpoTrainer(new ToyDpoModel(1), Opts with { MaxSteps = 1 }, _dir).Train(data, resume: false);
        Assert.Equal(3, r1.ReferenceComputed);
        var r2 = new DpoTrainer(new ToyDpoModel(1), Opts with { MaxSteps = 1 }, _dir).Train(data, resume: false);
        Assert.Equal(0, r2.ReferenceComputed);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(_dir, ReferenceLogProbCache.FileName)).Length);
    }

    [Fact]
    public void Resume_FromCheckpoint_ReachesTheSameWeights()
    {
        var data = ToyDpoModel.Data(12, 7);
        var full = new ToyDpoModel(2);
        var rf = new DpoTrainer(full, Opts, Path.Combine(_dir, "full")).Train(data, resume: false);
        Assert.Equal(6, rf.Steps);

        string killedDir = Path.Combine(_dir, "killed");
        var killed = new ToyDpoModel(2);
        Assert.Throws<OperationCanceledException>(() => new DpoTrainer(killed, Opts, killedDir)
        {
            OnStep = s => { if (s.Step == 5) throw new OperationCanceledException("killed"); },
        }.Train(data, resume: false));
        Assert.EndsWith("checkpoint-4", DpoCheckpoint.Latest(killedDir));

        var resumed = new ToyDpoModel(2); // fresh process: base weights again
        var rr = new DpoTrainer(resumed, Opts, killedDir).Train(data, resume: true);
        Assert.Equal(4, rr.StartStep);
        Assert.Equal(0, rr.ReferenceComputed);
        Assert.Equal(full.Delta.data<float>().ToArray(), resumed.Delta.data<float>().ToArray());
        Assert.Equal(full.Proj.data<float>().ToArray(), resumed.Proj.data<float>().ToArray());
        Assert.Equal(rf.Log.Select(l => l.Loss), rr.Log.Select(l => l.Loss));
        Assert.Equal(6, File.ReadAllLines(Path.Combine(killedDir, DpoTrainer.LogFileName)).Length);
    }

    /// <summary>Fixed summed log-probs by the sequence's first id: policy (chosen -6, rejected -8), reference (-9, -4); one trainable offset.</summary>
    sealed class FixedLogps : IDpoModel
    {
        public readonly TorchSharp.Modules.Parameter Offset = new(zeros(1));
        bool _reference;

        public Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch) =>
            cat(batch.Select(s => (s.Ids[0], _reference) switch
            {
                (10, false) => Offset - 6,
                (11, false) => Offset - 8,
                (10, true) => zeros(1) - 9,
                _ => zeros(1) - 4,
            }).ToList(), 0);

        public IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr) => [new("lora", [("offset", Offset)], loraLr)];

        public IDisposable ReferenceMode()
        {
            _reference = true;
            return new Restore(() => _reference = false);
        }

        public void SetTraining(bool training) { }

        sealed class Restore(Action a) : IDisposable { public void Dispose() => a(); }
    }

    [Theory]
    // IPO on per-token means (TRL): chosen 3 tokens, rejected 4: policy -2, -2; reference -3, -1;
    // h = (-2 + 2) - (-3 + 1) = 2; loss = (2 - 1 / (2 * 0.1))^2 = 9; logps/chosen = -2; rewards/chosen = 0.1 * (-2 + 3)
    [InlineData(Csr.Kernels.DpoLossType.Ipo, 9.0, -2.0, 0.1)]
    // sigmoid on sums: h = (-6 + 8) - (-9 + 4) = 7; loss = log(1 + e^-0.7); rewards/chosen = 0.1 * (-6 + 9)
    [InlineData(Csr.Kernels.DpoLossType.Sigmoid, 0.40318604888, -6.0, 0.3)]
    // hinge on sums: relu(1 - 0.7)
    [InlineData(Csr.Kernels.DpoLossType.Hinge, 0.3, -6.0, 0.3)]
    public void LossTypes_UseSumsOrLengthAveragedLogps_AsTrl(Csr.Kernels.DpoLossType loss, double expectedLoss, double logpsChosen, double rewardChosen)
    {
        var data = new List<DpoExample> { new("p", new DpoSequence([10, 3, 4, 5], 1, null), new DpoSequence([11, 3, 4, 5, 6], 1, null)) };
        var r = new DpoTrainer(new FixedLogps(), Opts with { GradientAccumulation = 1, MaxSteps = 1, Loss = loss, Beta = 0.1 }, _dir).Train(data, resume: false);
        var step = Assert.Single(r.Log);
        Assert.Equal(expectedLoss, step.Loss, 5);
        Assert.Equal(logpsChosen, step.LogpsChosen, 5);
        Assert.Equal(rewardChosen, step.RewardsChosen, 5);
    }

    [Fact]
    public void AFreshStart_RemovesTheCheckpointsOfAnEarlierRun()
    {
        // without it a longer earlier run's checkpoint-4 would outlive this run's checkpoint-2 and be resumed later
        var data = ToyDpoModel.Data(8, 5);
        new DpoTrainer(new ToyDpoModel(1), Opts with { SaveSteps = 1, GradientAccumulation = 1, MaxSteps = 4 }, _dir).Train(data, resume: false);
        Assert.EndsWith("checkpoint-4", DpoCheckpoint.Latest(_dir));
        new DpoTrainer(new ToyDpoModel(1), Opts with { SaveSteps = 1, GradientAccumulation = 1, MaxSteps = 2 }, _dir).Train(data, resume: false);
        Assert.EndsWith("checkpoint-2", DpoCheckpoint.Latest(_dir));
        Assert.Single(Directory.GetDirectories(_dir, DpoCheckpoint.Prefix + "*"));
    }

    [Fact]
    public void NaN_StopsWithTheStep_AndKeepsTheLastGoodCheckpoint()
    {
        var m = new ToyDpoModel(1);
        var data = ToyDpoModel.Data(8, 5);
        var ex = Assert.Throws<DpoDivergedException>(() => new DpoTrainer(m, Opts, _dir)
        {
            OnStep = s => { if (s.Step == 2) using (no_grad()) m.Delta.fill_(float.NaN); },
        }.Train(data, resume: false));
        Assert.Contains("DPO step 3", ex.Message);
        Assert.Contains("checkpoint-2", ex.Message);
        Assert.True(Directory.Exists(Path.Combine(_dir, "checkpoint-2")));
    }
}
