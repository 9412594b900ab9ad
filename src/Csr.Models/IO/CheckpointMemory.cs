using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>
/// Memory needed to hold a checkpoint's weights, from the headers alone, and a check against the
/// memory this machine has free, so a run refuses up front instead of being killed half-way.
/// </summary>
public static class CheckpointMemory
{
    /// <summary>
    /// Bytes the checkpoint's tensors take once loaded as <paramref name="dtype"/> (floating-point tensors
    /// converted; integer / bool tensors keep their type). Null dtype: as stored.
    /// </summary>
    public static long EstimateBytes(string checkpointPath, ScalarType? dtype = null)
    {
        using var files = CheckpointFiles.Open(checkpointPath);
        return EstimateBytes(files.Entries.Select(e => e.Entry), dtype);
    }

    public static long EstimateBytes(IEnumerable<SafeTensorsEntry> entries, ScalarType? dtype = null) =>
        entries.Sum(e =>
        {
            var t = e.ScalarType;
            int size = dtype is ScalarType d && SafeTensorsDType.IsFloatingPoint(t) ? SafeTensorsDType.SizeOf(d) : e.ElementSize;
            return e.NumberOfElements * size;
        });

    /// <summary>MemAvailable from /proc/meminfo (Linux), else the GC's view of available memory.</summary>
    public static long AvailableBytes()
    {
        try
        {
            if (File.Exists("/proc/meminfo"))
                foreach (var line in File.ReadLines("/proc/meminfo"))
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    {
                        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        return long.Parse(parts[1]) * 1024;
                    }
        }
        catch (IOException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/> when the weights in <paramref name="dtype"/>, times
    /// <paramref name="headroom"/> (activations, caches), exceed <paramref name="availableBytes"/> (default:
    /// <see cref="AvailableBytes"/>). The message says what is needed, what is free and which dtype would fit.
    /// Returns the estimate.
    /// </summary>
    public static long EnsureFits(string checkpointPath, ScalarType dtype, double headroom = 1.2, long? availableBytes = null)
    {
        using var files = CheckpointFiles.Open(checkpointPath);
        var entries = files.Entries.Select(e => e.Entry).ToList();
        long need = EstimateBytes(entries, dtype);
        long free = availableBytes ?? AvailableBytes();
        if (need * headroom <= free) return need;
        var fits = new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16 }
            .Where(t => t != dtype && EstimateBytes(entries, t) * headroom <= free)
            .Select(t => t.ToString()).ToList();
        throw new InsufficientMemoryException(
            $"{checkpointPath}: loading as {dtype} needs about {Gib(need)} GiB for the weights ({Gib((long)(need * headroom))} GiB with headroom), " +
            $"but only {Gib(free)} GiB is free. " +
            (fits.Count > 0 ? $"It would fit as {string.Join(" or ", fits)} (--dtype)." : "No supported dtype fits; use a machine with more memory."));
    }

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
}
