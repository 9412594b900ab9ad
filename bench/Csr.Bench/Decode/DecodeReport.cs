using System.Diagnostics;
using Csr.Models.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>
/// Plain timed report: <c>dotnet run -c Release --project bench/Csr.Bench -- decode [--quick] [--dtypes fp32,bf16]</c>.
/// Prefill and greedy-decode tokens/s (fp32, bf16; with and without the KV cache) and decode as a fraction of the
/// weight-streaming bound (copy bandwidth / weight bytes per token), measured in the same run. Best of N repeats.
/// </summary>
public static class DecodeReport
{
    public static void Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int repeats = quick ? 2 : 3;
        int prefillLen = 128, promptLen = 16, decodeTokens = quick ? 16 : 64, uncachedTokens = quick ? 8 : 32;
        var auto = Csr.Native.ComputeDevice.ResolveDTypeChoice("auto", torch.CPU);
        Console.WriteLine($"cpu: {Csr.Native.CpuFeatures.Describe()}; {auto}; Bf16Gemv path {Csr.Models.Fast.Bf16Gemv.CurrentPath}");
        Console.WriteLine($"torch threads: {torch.get_num_threads()}, config: hidden {DecodeWorkload.Config.HiddenSize}, layers {DecodeWorkload.Config.NumHiddenLayers}, " +
                          $"intermediate {DecodeWorkload.Config.IntermediateSize}, heads {DecodeWorkload.Config.NumAttentionHeads}, vocab {DecodeWorkload.Config.VocabSize}");
        double copy = MemoryBandwidth.MeasureCopyGBps(), read = MemoryBandwidth.MeasureReadGBps();
        Console.WriteLine($"memory bandwidth before: copy (read+write) {copy:F1} GB/s, streaming read (sum) {read:F1} GB/s");
        var rows = new List<(string dtype, double prefill, double dec, double unc, long bytes)>();
        // --dtypes fp32,bf16 (default both): one of them alone, e.g. to profile it
        var dtypes = (args.SkipWhile(a => a != "--dtypes").Skip(1).FirstOrDefault() ?? "fp32,bf16").Split(',')
            .Select(d => d switch
            {
                "fp32" => ScalarType.Float32,
                "bf16" => ScalarType.BFloat16,
                _ => throw new ArgumentException($"--dtypes {d}: expected fp32 or bf16"),
            }).ToArray();
        foreach (var dtype in dtypes)
        {
            using var w = new DecodeWorkload(dtype);
            using var outer = torch.NewDisposeScope();
            var prefillIds = w.Prompt(prefillLen);
            var prompt = w.Prompt(promptLen);
            w.Prefill(prefillIds); // warm-up
            double prefill = Best(repeats, () => w.Prefill(prefillIds));
            using var start = GenerationStart.PrefillIds(w.Model, prompt);
            w.DecodeCached(start, 4); // warm-up
            double dec = Best(repeats, () => w.DecodeCached(start, decodeTokens));
            double unc = Best(Math.Max(1, repeats - 1), () => w.DecodeUncached(prompt, uncachedTokens));
            rows.Add((dtype == ScalarType.Float32 ? "fp32" : "bf16", prefillLen / prefill, decodeTokens / dec, uncachedTokens / unc, w.WeightBytesPerToken()));
        }
        double copy2 = MemoryBandwidth.MeasureCopyGBps(), read2 = MemoryBandwidth.MeasureReadGBps();
        Console.WriteLine($"memory bandwidth after:  copy (read+write) {copy2:F1} GB/s, streaming read (sum) {read2:F1} GB/s");
        // conservative: the highest bandwidth seen in this run is the bound
        double bw = new[] { copy, read, copy2, read2 }.Max();
        Console.WriteLine($"bound uses {bw:F1} GB/s (the highest of the four)");
        Console.WriteLine();
        Console.WriteLine("| dtype | prefill tok/s (T=128) | decode tok/s (KV cache) | decode tok/s (no cache) | weight MB/token | bound tok/s | decode / bound |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            double bound = bw * 1e9 / r.bytes;
            Console.WriteLine($"| {r.dtype}{(r.dtype == auto.Name ? " (auto)" : "")} | {r.prefill:F0} | {r.dec:F1} | {r.unc:F1} | {r.bytes / 1e6:F0} | {bound:F1} | {100 * r.dec / bound:F0}% |");
        }
        var chosen = rows.FirstOrDefault(r => r.dtype == auto.Name);
        if (chosen.dtype is null) return;
        Console.WriteLine($"decode in the auto dtype ({auto.Name}): {100 * chosen.dec / (bw * 1e9 / chosen.bytes):F0}% of the weight-streaming bound");
    }

    private static double Best(int repeats, Action a)
    {
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            a();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }
}
