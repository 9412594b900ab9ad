using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class KernelReportTests
{
    public KernelReportTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Stats_count_calls_per_op_and_path_and_reports_add_up()
    {
        using var scope = NewDisposeScope();
        KernelStats.Reset();
        var scores = tensor(new double[] { 0.5, 2, 1, 3 });
        var parent = tensor(new long[] { 0, 0, 1, 1 });
        ClipScoring.SiblingRanks(scores, parent, KernelPath.Reference);
        ClipScoring.SiblingRanks(scores, parent, KernelPath.Fused);
        ClipScoring.SiblingRanks(scores, parent, KernelPath.Fused);
        var report = KernelStats.Snapshot();
        Assert.Equal(1, report.Calls(ClipScoring.SiblingRanksOpName, "reference"));
        Assert.Equal(2, report.Calls(ClipScoring.SiblingRanksOpName, "fused"));

        var parsed = KernelReport.Parse(report.ToJson());
        Assert.Equal(report.ToJson(), parsed.ToJson());
        var sum = KernelReport.Parse(report.ToJson()).Merge(parsed);
        Assert.Equal(4, sum.Calls(ClipScoring.SiblingRanksOpName, "fused"));

        KernelStats.Reset();
        Assert.True(KernelStats.Snapshot().IsEmpty);
    }

    [Fact]
    public void Reports_written_at_once_into_one_folder_leave_one_whole_file_and_no_temporary()
    {
        // workers on shards of one stage share its output folder, and each writes kernels.json when it ends
        var dir = Directory.CreateTempSubdirectory("csr-kreport-");
        try
        {
            var reports = Enumerable.Range(1, 8).Select(i => KernelReport.Parse(
                $"{{\"BeamStep\": {{\"fused\": {{\"calls\": {i}, \"seconds\": 0.5}}}}}}")).ToArray();
            Parallel.For(0, 8 * 40, new ParallelOptions { MaxDegreeOfParallelism = 8 }, k => reports[k % 8].Write(dir.FullName));
            var read = KernelReport.TryRead(dir.FullName);
            Assert.NotNull(read);
            Assert.InRange(read!.Calls("BeamStep", "fused"), 1, 8);
            Assert.Equal([KernelReport.FileName], Directory.GetFiles(dir.FullName).Select(Path.GetFileName));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Gpu_paths_of_an_op_without_a_gpu_kernel_say_what_ran_instead()
    {
        using var scope = NewDisposeScope();
        KernelStats.Reset();
        var ranks = ClipScoring.SiblingRanks(tensor(new double[] { 1, 2 }), tensor(new long[] { 0, 0 }), KernelPath.Cuda);
        Assert.Equal(new[] { 1.0, 0.5 }, ranks.data<double>().ToArray());
        var report = KernelStats.Snapshot();
        Assert.Equal(1, report.Calls(ClipScoring.SiblingRanksOpName, "fused"));
        Assert.StartsWith("cuda->fused: ", report.Fallbacks[ClipScoring.SiblingRanksOpName]);
    }

    [Fact]
    public void Every_op_names_the_argument_and_both_devices_when_inputs_are_on_two_devices()
    {
        using var scope = NewDisposeScope();
        var meta = new TorchSharp.torch.Device(TorchSharp.DeviceType.META);
        void Check(Action call, string argument)
        {
            var ex = Assert.Throws<ArgumentException>(call);
            Assert.Contains(argument, ex.Message);
            Assert.Contains("meta", ex.Message);
            Assert.Contains("cpu", ex.Message);
        }
        var logits = randn(2, 3, 10);
        var labels = zeros(2, 3, dtype: ScalarType.Int64);
        Check(() => DpoLogRatio.SequenceLogProbs(logits, labels, ones(2, 3, device: meta)), "mask");
        Check(() => DpoLogRatio.SequenceLogProbsFromHidden(randn(2, 3, 4), randn(10, 4, device: meta), labels, ones(2, 3)), "weight");
        Check(() => new FusedOps(KernelPath.Reference).SequenceLogProbsFromHidden(randn(2, 3, 4), randn(10, 4, device: meta), labels, ones(2, 3)), "lmHeadWeight");
        Check(() => BeamStep.Step(randn(2, 10), zeros(2, device: meta), null, 1, 0), "beamScores");
        Check(() => ClipScoring.PairScores(randn(2, 4), randn(3, 4, device: meta), zeros(3, dtype: ScalarType.Int64), 100), "sentenceEmb");
        Check(() => ClipScoring.SiblingRanks(randn(3), zeros(3, dtype: ScalarType.Int64, device: meta)), "parent");
        Check(() => DpoLoss.Compute(zeros(2), zeros(2), zeros(2, device: meta), zeros(2), 0.1), "referenceChosen");
    }
}
