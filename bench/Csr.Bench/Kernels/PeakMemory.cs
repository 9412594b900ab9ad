using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>
/// Extra peak memory of each path, which BenchmarkDotNet's MemoryDiagnoser cannot see (libtorch allocates
/// natively): resets the kernel's peak-RSS mark (<c>echo 5 &gt; /proc/self/clear_refs</c>), runs the op once
/// (after a warm-up run), and reports VmHWM minus the RSS before the call. Large tensors are mmap'd and
/// returned to the OS when freed, so the mark measures the op's temporaries. Linux only.
/// Run: <c>dotnet run -c Release --project bench/Csr.Bench -- --kernels-memory</c>.
/// </summary>
public static class PeakMemory
{
    public static void Report()
    {
        TorchRuntime.EnsureInitialised();
        Console.WriteLine("| op | shape | path | extra peak RSS (MiB) |");
        Console.WriteLine("|---|---|---|---|");
        var g = new Generator(42);
        var only = Environment.GetEnvironmentVariable("CSR_MEM_ONLY"); // e.g. "2:BFloat16" to measure one shape in a fresh process
        foreach (var (n, dtype) in new[] { (2L, ScalarType.Float32), (2L, ScalarType.BFloat16), (8L, ScalarType.BFloat16) }
                     .Where(c => only is null || only == $"{c.Item1}:{c.Item2}"))
        {
            using var logits = (randn(new long[] { n, 1024, 32000 }, generator: g) * 3).to(dtype);
            using var labels = randint(0, 32000, new long[] { n, 1024 }, generator: g, dtype: ScalarType.Int64);
            using var mask = ones(n, 1024);
            string shape = $"N={n} T=1024 V=32000 {dtype}";
            Row("DPO log-probs forward", shape, "reference", () => DpoLogRatio.SequenceLogProbsReference(logits, labels, mask).Dispose());
            Row("DPO log-probs forward", shape, "fused", () => DpoLogRatio.SequenceLogProbsFused(logits, labels, mask).Dispose());
            Row("DPO log-probs fwd+bwd", shape, "reference", () => FwdBwd(logits, labels, mask, KernelPath.Reference));
            Row("DPO log-probs fwd+bwd", shape, "fused", () => FwdBwd(logits, labels, mask, KernelPath.Fused));
        }
        if (only is null || only == "linear")
        {
            // Fused linear (stretch): hidden [2, 1024, 4096] and lm_head [32000, 4096] in bf16 (LLaVA-7B sizes).
            using var hidden = (randn(new long[] { 2, 1024, 4096 }, generator: g) * 0.1).to(ScalarType.BFloat16);
            using var w = (randn(new long[] { 32000, 4096 }, generator: g) * 0.02).to(ScalarType.BFloat16);
            using var labels = randint(0, 32000, new long[] { 2, 1024 }, generator: g, dtype: ScalarType.Int64);
            using var mask = ones(2, 1024);
            const string shape = "N=2 T=1024 H=4096 V=32000 bf16";
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Row("log-probs from hidden, forward", shape, "reference (matmul + log_softmax)", () =>
            {
                using var s = NewDisposeScope();
                DpoLogRatio.SequenceLogProbsReference(hidden.matmul(w.t()), labels, mask);
            });
            Console.WriteLine($"|  |  | (reference: {sw.Elapsed.TotalSeconds / 2:F1} s per call incl. warm-up average) |  |");
            sw.Restart();
            Row("log-probs from hidden, forward", shape, "fused linear (256-row blocks)", () =>
                DpoLogRatio.SequenceLogProbsFromHidden(hidden, w, labels, mask).Dispose());
            Console.WriteLine($"|  |  | (fused: {sw.Elapsed.TotalSeconds / 2:F1} s per call incl. warm-up average) |  |");
        }
        using (var bl = randn(new long[] { 25, 32000 }, generator: g))
        using (var bs = zeros(25))
        using (var bt = randint(0, 50, new long[] { 25 }, generator: g, dtype: ScalarType.Int64))
        {
            Row("beam step", "G=5 B=5 V=32000", "reference", () => BeamStep.StepReference(bl, bs, bt, 5, 3.0).Dispose());
            Row("beam step", "G=5 B=5 V=32000", "fused", () => BeamStep.Step(bl, bs, bt, 5, 3.0, KernelPath.Fused).Dispose());
        }
        using var img = randn(new long[] { 64, 768 }, generator: g);
        using var sent = randn(new long[] { 4096, 768 }, generator: g);
        using var idx = randint(0, 64, new long[] { 4096 }, generator: g, dtype: ScalarType.Int64);
        Row("CLIP pair scores", "I=64 S=4096 D=768", "reference", () => ClipScoring.PairScoresReference(img, sent, idx, 100, true).Dispose());
        Row("CLIP pair scores", "I=64 S=4096 D=768", "fused", () => ClipScoring.PairScoresFused(img, sent, idx, 100, true).Dispose());
    }

    private static void FwdBwd(Tensor logits, Tensor labels, Tensor mask, KernelPath path)
    {
        using var scope = NewDisposeScope();
        var leaf = logits.detach().requires_grad_(true);
        var x = leaf.view(logits.shape); // as in training, logits are not a leaf (a leaf's grad would be cloned)
        DpoLogRatio.SequenceLogProbs(x, labels, mask, path).sum().backward();
    }

    private static void Row(string op, string shape, string path, Action run)
    {
        run(); // warm-up (allocator pools, code paths)
        GC.Collect();
        long before = Status("VmRSS:");
        File.WriteAllText("/proc/self/clear_refs", "5");
        run();
        long peak = Status("VmHWM:");
        Console.WriteLine($"| {op} | {shape} | {path} | {Math.Max(0, peak - before) / 1024.0:F1} |");
    }

    private static long Status(string key) =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
