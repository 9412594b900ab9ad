using System.Diagnostics;
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>Stopwatch split of forward / backward of the DPO log-probs (a diagnostic, not a benchmark): --kernels-profile.</summary>
public static class QuickProfile
{
    public static void Run()
    {
        TorchRuntime.EnsureInitialised();
        var g = new Generator(42);
        using var logits = randn(new long[] { 2, 1024, 32000 }, generator: g) * 3;
        using var labels = randint(0, 32000, new long[] { 2, 1024 }, generator: g, dtype: ScalarType.Int64);
        using var mask = ones(2, 1024);
        foreach (var path in new[] { KernelPath.Reference, KernelPath.Fused, KernelPath.Reference, KernelPath.Fused })
        {
            using var scope = NewDisposeScope();
            var leaf = logits.detach().requires_grad_(true);
            var x = leaf.view(logits.shape);
            var sw = Stopwatch.StartNew();
            var lp = DpoLogRatio.SequenceLogProbs(x, labels, mask, path);
            double f = sw.Elapsed.TotalMilliseconds;
            lp.sum().backward();
            double b = sw.Elapsed.TotalMilliseconds - f;
            Console.WriteLine($"{path}: forward {f:F0} ms, backward {b:F0} ms");
        }
    }
}
