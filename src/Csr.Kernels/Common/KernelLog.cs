using System.Collections.Concurrent;

namespace Csr.Kernels;

/// <summary>
/// Where the op library says things once (a fallback from a GPU path to the CPU path, for example).
/// Defaults to standard error; hosts may redirect it. Each distinct message is written once per process.
/// </summary>
public static class KernelLog
{
    private static readonly ConcurrentDictionary<string, byte> Said = new();

    /// <summary>The sink for log lines; set to null to silence.</summary>
    public static Action<string>? Sink { get; set; } = line => Console.Error.WriteLine(line);

    /// <summary>Every distinct message said so far (in no particular order).</summary>
    public static IReadOnlyCollection<string> Messages => (IReadOnlyCollection<string>)Said.Keys;

    /// <summary>Writes <paramref name="message"/> the first time it is seen.</summary>
    public static void Once(string message)
    {
        if (Said.TryAdd(message, 0)) Sink?.Invoke("csr-kernels: " + message);
    }
}
