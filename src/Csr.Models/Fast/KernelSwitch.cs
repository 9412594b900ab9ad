namespace Csr.Models.Fast;

/// <summary>
/// Whether a CPU kernel is used: a process-wide setting and a per-thread override, so an A/B comparison on one thread
/// (tests, benchmarks) does not affect other threads.
/// </summary>
public sealed class KernelSwitch(bool enabled)
{
    private volatile bool _enabled = enabled;
    private readonly ThreadLocal<bool?> _thread = new();

    /// <summary>The calling thread's override, else the process-wide setting (setting it sets the process-wide one).</summary>
    public bool Enabled
    {
        get => _thread.Value ?? _enabled;
        set => _enabled = value;
    }

    /// <summary>Turns the kernel off for the calling thread until disposed.</summary>
    public IDisposable DisableOnThisThread()
    {
        var previous = _thread.Value;
        _thread.Value = false;
        return new Restore(this, previous);
    }

    private sealed class Restore(KernelSwitch owner, bool? previous) : IDisposable
    {
        public void Dispose() => owner._thread.Value = previous;
    }
}
