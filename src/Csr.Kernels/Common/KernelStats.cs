using System.Collections.Concurrent;
using System.Diagnostics;

namespace Csr.Kernels;

/// <summary>
/// What the op library ran: per op and per path (the path that actually ran, after any fallback) the number
/// of calls and the seconds spent, plus one line per op that fell back from the path it was asked for.
/// Thread-safe and process-wide; a host resets it at the start of a stage and writes
/// <see cref="Snapshot"/> as <c>kernels.json</c> at its end (see <see cref="KernelReport"/>).
/// </summary>
public static class KernelStats
{
    private sealed class Counter
    {
        public long Calls;
        public long Ticks;
    }

    private static readonly ConcurrentDictionary<(string Op, KernelPath Path), Counter> Counters = new();
    private static readonly ConcurrentDictionary<string, string> Fallbacks = new();

    /// <summary>Forgets everything recorded so far.</summary>
    public static void Reset()
    {
        Counters.Clear();
        Fallbacks.Clear();
    }

    /// <summary>Adds <paramref name="calls"/> calls and <paramref name="seconds"/> to (op, path).</summary>
    public static void Record(string op, KernelPath path, double seconds, long calls = 1)
    {
        var c = Counters.GetOrAdd((op, path), _ => new Counter());
        Interlocked.Add(ref c.Calls, calls);
        Interlocked.Add(ref c.Ticks, (long)(seconds * TimeSpan.TicksPerSecond));
    }

    /// <summary>Times the scope (one call) and records it under (op, path) when disposed.</summary>
    public static Timing Time(string op, KernelPath path, long calls = 1) => new(op, path, calls, Stopwatch.GetTimestamp());

    /// <summary>A running measurement of one call; see <see cref="Time"/>.</summary>
    public readonly struct Timing(string op, KernelPath path, long calls, long start) : IDisposable
    {
        /// <summary>Records the elapsed time.</summary>
        public void Dispose() => Record(op, path, Stopwatch.GetElapsedTime(start).TotalSeconds, calls);
    }

    /// <summary>
    /// Notes that <paramref name="op"/> ran on <paramref name="to"/> instead of <paramref name="from"/> and why
    /// (kept once per op until <see cref="Reset"/>; written to <see cref="KernelLog"/> once per process).
    /// </summary>
    public static void Fallback(string op, KernelPath from, KernelPath to, string reason)
    {
        string text = $"{Name(from)}->{Name(to)}: {reason}";
        Fallbacks.TryAdd(op, text);
        KernelLog.Once($"{op}: {text}");
    }

    /// <summary>A copy of what was recorded since the last <see cref="Reset"/>.</summary>
    public static KernelReport Snapshot()
    {
        var report = new KernelReport();
        foreach (var ((op, path), c) in Counters)
            report.Add(op, Name(path), Interlocked.Read(ref c.Calls), Interlocked.Read(ref c.Ticks) / (double)TimeSpan.TicksPerSecond);
        foreach (var (op, text) in Fallbacks) report.AddFallback(op, text);
        return report;
    }

    /// <summary>The path's name as written in kernels.json and accepted by <c>CSR_KERNEL_PATH</c>.</summary>
    public static string Name(KernelPath path) => path.ToString().ToLowerInvariant();
}
