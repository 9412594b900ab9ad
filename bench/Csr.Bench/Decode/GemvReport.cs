using System.Diagnostics;
using Csr.Models.Fast;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>
/// <c>dotnet run -c Release --project bench/Csr.Bench -- decode --gemv</c>: the decode benchmark's projections
/// (W [N, K] of the mid-size decoder, and its output layer) one at a time, M rows of x, for <see cref="Bf16Gemv"/>
/// on each of its paths, torch bf16 and torch fp32; weight GB/s against the streaming-read bandwidth measured in the
/// same run (before and after, the higher is the bound).
/// </summary>
public static class GemvReport
{
    public static void Run(string[] args)
    {
        Console.WriteLine($"cpu: {CpuFeatures.Describe()}; torch threads {torch.get_num_threads()}; Bf16Gemv paths: {string.Join(", ", Bf16Gemv.AvailablePaths)}");
        double read = MemoryBandwidth.MeasureReadGBps();
        var shapes = new (int N, int K, string What)[] { (1024, 1024, "q/k/v/o"), (2816, 1024, "gate/up"), (1024, 2816, "down"), (32000, 1024, "lm_head") };
        var rows = new List<string>();
        foreach (int m in new[] { 1, 5 })
        foreach (var (n, k, what) in shapes)
        {
            using var scope = torch.NewDisposeScope();
            var g = new Generator(3);
            // as many copies of W as make 256 MB of bf16, used in turn: every call streams its weights from memory,
            // as decode does (a single W of a few MB would stay in the last-level cache)
            int copies = Math.Max(2, (int)Math.Ceiling(256e6 / (2.0 * n * k)));
            var w32 = Enumerable.Range(0, copies).Select(_ => torch.randn(new long[] { n, k }, generator: g)).ToArray();
            var w16 = w32.Select(w => w.to_type(ScalarType.BFloat16)).ToArray();
            var x32 = torch.randn(new long[] { m, k }, generator: g);
            var x16 = x32.to_type(ScalarType.BFloat16);
            int next = 0;
            Tensor Next(Tensor[] set) => set[next++ % set.Length];
            var cells = new List<string>();
            foreach (var path in Bf16Gemv.AvailablePaths)
                cells.Add(Gbps(2.0 * n * k, copies, () => { using (Bf16Gemv.UsePath(path)) Bf16Gemv.Linear(x16, Next(w16), null).Dispose(); }).ToString("F1"));
            using (Bf16Gemv.DisableOnThisThread())
                cells.Add(Gbps(2.0 * n * k, copies, () => nn.functional.linear(x16, Next(w16)).Dispose()).ToString("F1"));
            cells.Add(Gbps(4.0 * n * k, copies, () => nn.functional.linear(x32, Next(w32)).Dispose()).ToString("F1"));
            rows.Add($"| {m} | {what} [{n}, {k}] | {string.Join(" | ", cells)} |");
        }
        double read2 = MemoryBandwidth.MeasureReadGBps();
        double bw = Math.Max(read, read2);
        Console.WriteLine($"streaming read bandwidth: {read:F1} GB/s before, {read2:F1} GB/s after; bound {bw:F1} GB/s");
        Console.WriteLine($"| M | W | {string.Join(" | ", Bf16Gemv.AvailablePaths.Select(p => $"Bf16Gemv {p} GB/s"))} | torch bf16 GB/s | torch fp32 GB/s |");
        Console.WriteLine($"|---|---|{string.Concat(Enumerable.Repeat("---|", Bf16Gemv.AvailablePaths.Count + 2))}");
        foreach (var r in rows) Console.WriteLine(r);
    }

    /// <summary>Weight bytes per second (1e9) of <paramref name="op"/>, best of 4 timings of <paramref name="calls"/> calls each.</summary>
    private static double Gbps(double bytes, int calls, Action op)
    {
        using var _ = torch.no_grad();
        op();
        double best = double.MaxValue;
        for (int rep = 0; rep < 4; rep++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) op();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return bytes * calls / best / 1e9;
    }
}
