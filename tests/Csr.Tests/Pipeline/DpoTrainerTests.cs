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
