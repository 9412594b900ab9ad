using System.Diagnostics;
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>
/// Stopwatch report of one diverse beam step (the shapes of <see cref="BeamStepBench"/>): the composed ops
/// (HF's float32 log_softmax, bincount penalty, + beam scores, topk) against the fused step, interleaved in one
/// process, medians of many calls, plus the fused step's split into the row pass and the selection:
/// <c>--kernels-beam [--iterations N]</c>.
/// </summary>
public static class BeamStepReport
{
    private const int Groups = 5, Vocab = 32000;

    public static void Run(string[] args)
    {
        TorchRuntime.EnsureInitialised();
        int iterations = 200;
        int at = Array.IndexOf(args, "--iterations");
        if (at >= 0 && at + 1 < args.Length) iterations = int.Parse(args[at + 1]);
        Console.WriteLine($"beam step, G = {Groups}, V = {Vocab}, penalty 3, {iterations} calls per path, {Environment.ProcessorCount} cores, " +
            $"torch threads {get_num_threads()}, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, " +
            $"AVX2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}, AVX-512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}");
        Console.WriteLine("| B | G*B | composed ops, us (min / median / CPU) | fused, us (min / median / CPU) | ratio (min / median / CPU) | fused row pass, min / median us | row pass, one segment per row, min / median us | fused selection, min us |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (int b in new[] { 1, 5 })
        {
            var g = new Generator(7);
            long rows = Groups * b;
            using var logits = randn(new long[] { rows, Vocab }, generator: g) * 3;
            using var scores = -rand(new long[] { rows }, generator: g) * 10;
            using var tokens = randint(0, 50, new long[] { rows }, generator: g, dtype: ScalarType.Int64);
            using (var r = BeamStep.StepReference(logits, scores, tokens, Groups, 3.0))
            using (var f = BeamStep.Step(logits, scores, tokens, Groups, 3.0, KernelPath.Fused))
                KernelCheck.Require(KernelCheck.Equal(r.Tokens, f.Tokens, "beam report sanity: tokens"));
            var composed = new Timings();
            var fused = new Timings();
            var pass = new List<double>();
            var passRows = new List<double>();
            int k = (int)Math.Min(Vocab, 2 * b + (Groups - 1) * b);
            var select = new List<double>();
            const int Block = 10;
            for (int round = 0; round < (iterations + Block - 1) / Block + 1; round++)
            {
                bool keep = round > 0;                                             // round 0 warms up
                composed.Block(keep, Block, () => { using var scope = NewDisposeScope(); BeamStep.StepTopk(logits, scores, tokens, Groups, 3.0).Dispose(); });
                fused.Block(keep, Block, () => { using var scope = NewDisposeScope(); BeamStep.Step(logits, scores, tokens, Groups, 3.0, KernelPath.Fused).Dispose(); });
                using var scope2 = NewDisposeScope();
                long t2 = Stopwatch.GetTimestamp();
                using var p = BeamStep.Prepare(logits, Groups, KernelPath.Fused);
                long t3 = Stopwatch.GetTimestamp();
                using (p.SelectAll(scores, tokens, 3.0)) { }
                long t4 = Stopwatch.GetTimestamp();
                long t5 = Stopwatch.GetTimestamp();
                using (BeamStepRows.FromCpu(logits, Groups, 2, k, BeamStepRows.BestWidth, segmentsPerRow: 1)) { }
                long t6 = Stopwatch.GetTimestamp();
                if (keep) { pass.Add(Us(t2, t3)); select.Add(Us(t3, t4)); passRows.Add(Us(t5, t6)); }
            }
            Console.WriteLine($"| {b} | {rows} | {composed} | {fused} | {composed.Min / fused.Min:F1}x / {composed.Median / fused.Median:F1}x / " +
                $"{composed.Cpu / fused.Cpu:F1}x | {pass.Min():F0} / {Median(pass):F0} | {passRows.Min():F0} / {Median(passRows):F0} | {select.Min():F0} |");
        }
    }

    /// <summary>Wall time per call (each call timed) and process CPU time per call (per block of calls).</summary>
    private sealed class Timings
    {
        private readonly List<double> _wall = new();
        private double _cpuUs;
        private int _calls;

        public void Block(bool keep, int calls, Action call)
        {
            var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            for (int i = 0; i < calls; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                call();
                if (keep) _wall.Add(Us(t0, Stopwatch.GetTimestamp()));
            }
            var cpu1 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            if (keep) { _cpuUs += (cpu1 - cpu0).TotalMicroseconds; _calls += calls; }
        }

        public double Min => _wall.Min();
        public double Median => BeamStepReport.Median(_wall);
        public double Cpu => _cpuUs / _calls;
        public override string ToString() => $"{Min:F0} / {Median:F0} / {Cpu:F0}";
    }

    private static double Us(long a, long b) => (b - a) * 1e6 / Stopwatch.Frequency;

    internal static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s[s.Count / 2];
    }
}
