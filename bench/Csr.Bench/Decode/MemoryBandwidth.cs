using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>Machine memory bandwidth from large (1 GiB) tensor passes: a copy (bytes read + written) and a sum (bytes read).</summary>
public static class MemoryBandwidth
{
    /// <summary>Best-of-<paramref name="repeats"/> GB/s (1e9 bytes/s) of <c>dst.copy_(src)</c>, counting read + write.</summary>
    public static double MeasureCopyGBps(long bytes = 1L << 30, int repeats = 5)
    {
        using var scope = torch.NewDisposeScope();
        long n = bytes / 4;
        var src = torch.rand(n);
        var dst = torch.empty(n);
        dst.copy_(src); // touch pages
        return 2.0 * n * 4 / Best(repeats, () => dst.copy_(src)) / 1e9;
    }

    /// <summary>Best-of-<paramref name="repeats"/> GB/s of <c>src.sum()</c>: a pure streaming read, like reading weights.</summary>
    public static double MeasureReadGBps(long bytes = 1L << 30, int repeats = 5)
    {
        using var scope = torch.NewDisposeScope();
        long n = bytes / 4;
        var src = torch.rand(n);
        src.sum().Dispose();
        return n * 4.0 / Best(repeats, () => src.sum().Dispose()) / 1e9;
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
