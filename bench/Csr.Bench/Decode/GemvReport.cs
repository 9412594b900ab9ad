using System.Diagnostics;
using Csr.Models.Fast;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>
/// <c>dotnet bench/Csr.Bench/bin/Release/net10.0/Csr.Bench.dll decode --gemv [--reps 8]</c>: the decode benchmark's
/// projections (W [N, K] of the mid-size decoder, and its output layer) one at a time for M = 1 and 5 rows of x:
/// weight GB/s of <see cref="Bf16Gemv"/> on its default path, of <see cref="TwoChainGemv"/> (the same loop with two FMA
/// chains), torch bf16 and torch fp32, each as a share of the streaming-read bandwidth. The variants and a bandwidth
/// pass over a 256 MB buffer alternate within each repeat and each keeps its best repeat, so load from other
/// processes shifts them alike. Every W is streamed from memory (256 MB of copies used in turn), as in decode.
/// </summary>
public static class GemvReport
{
    public static void Run(string[] args)
    {
        int i = Array.IndexOf(args, "--reps");
        int reps = i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : 8;
        int threads = Math.Max(1, Math.Min(Environment.ProcessorCount, torch.get_num_threads()));
        Console.WriteLine($"cpu: {CpuFeatures.Describe()}; torch threads {torch.get_num_threads()}; Bf16Gemv default path {Bf16Gemv.CurrentPath}; best of {reps} repeats");
        var shapes = new (int N, int K, string What)[] { (1024, 1024, "q/k/v/o"), (2816, 1024, "gate/up"), (1024, 2816, "down"), (32000, 1024, "lm_head") };
        Console.WriteLine("| M | W | read GB/s | Bf16Gemv | two-chain loop | torch bf16 | torch fp32 |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        using var bwScope = torch.NewDisposeScope();
        var buffer = torch.rand(256L << 20 >> 2); // 256 MiB of fp32
        buffer.sum().Dispose();
        foreach (int m in new[] { 1, 5 })
        foreach (var (n, k, what) in shapes)
        {
            using var scope = torch.NewDisposeScope();
            var g = new Generator(3);
            int copies = Math.Max(2, (int)Math.Ceiling(256e6 / (2.0 * n * k)));
            var w32 = Enumerable.Range(0, copies).Select(_ => torch.randn(new long[] { n, k }, generator: g)).ToArray();
            var w16 = w32.Select(w => w.to_type(ScalarType.BFloat16)).ToArray();
            var x32 = torch.randn(new long[] { m, k }, generator: g);
            var x16 = x32.to_type(ScalarType.BFloat16);
            var ops = new (string Name, double Bytes, Action<int> Op)[]
            {
                ("read", 4.0 * buffer.numel(), _ => buffer.sum().Dispose()),
                ("Bf16Gemv", 2.0 * n * k * copies, _ => { for (int c = 0; c < copies; c++) Bf16Gemv.Linear(x16, w16[c], null).Dispose(); }),
                ("two-chain", 2.0 * n * k * copies, _ => { for (int c = 0; c < copies; c++) TwoChain(x16, w16[c], threads).Dispose(); }),
                ("torch bf16", 2.0 * n * k * copies, _ => { using (Bf16Gemv.DisableOnThisThread()) for (int c = 0; c < copies; c++) nn.functional.linear(x16, w16[c]).Dispose(); }),
                ("torch fp32", 4.0 * n * k * copies, _ => { for (int c = 0; c < copies; c++) nn.functional.linear(x32, w32[c]).Dispose(); }),
            };
            var best = new double[ops.Length];
            using (torch.no_grad())
            {
                foreach (var op in ops) op.Op(0); // warm-up
                for (int rep = 0; rep < reps; rep++)
                    for (int j = 0; j < ops.Length; j++)
                    {
                        var sw = Stopwatch.StartNew();
                        ops[j].Op(rep);
                        best[j] = Math.Max(best[j], ops[j].Bytes / sw.Elapsed.TotalSeconds / 1e9);
                    }
            }
            string Cell(int j) => $"{best[j]:F1} ({100 * best[j] / best[0]:F0}%)";
            Console.WriteLine($"| {m} | {what} [{n}, {k}] | {best[0]:F1} | {Cell(1)} | {Cell(2)} | {Cell(3)} | {Cell(4)} |");
        }
    }

    private static unsafe Tensor TwoChain(Tensor x, Tensor w, int threads)
    {
        using var scope = torch.NewDisposeScope();
        long n = w.shape[0], k = w.shape[1], m = x.shape[0];
        if (k % 16 != 0) throw new ArgumentException("TwoChainGemv: K must be a multiple of 16");
        var xf = x.to_type(ScalarType.Float32).contiguous();
        var y = torch.empty(new[] { m, n }, dtype: ScalarType.Float32);
        TwoChainGemv.Run((ushort*)TensorMemory.DataPtr<BFloat16>(w), (int)n, (int)k, (float*)TensorMemory.DataPtr<float>(xf), (int)m,
            (float*)TensorMemory.DataPtr<float>(y), threads);
        return y.to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
