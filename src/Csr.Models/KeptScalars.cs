using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models;

/// <summary>
/// Scalars that are never collected, and additions that use them. TorchSharp 0.107's <c>a + b</c> / <c>a.add(b)</c>
/// pass an implicitly created alpha Scalar (and <c>t + 1e-5</c> an implicit value Scalar) to the native op without
/// keeping it alive, so a GC started by another thread during the call can let the finalizer free it while libtorch
/// reads it ("Unknown scalar type", "Expected false to be true"). A static or field-held Scalar stays reachable.
/// The hot paths of the models (every layer's residual adds, RMSNorm) use these.
/// </summary>
public static class KeptScalars
{
    /// <summary>1, the alpha of a plain addition.</summary>
    public static readonly Scalar One = 1.0;

    /// <summary><paramref name="a"/> + <paramref name="b"/> with a kept-alive alpha.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><paramref name="a"/> + <paramref name="value"/> (a Scalar the caller keeps alive, e.g. a field) with a kept-alive alpha.</summary>
    public static Tensor Plus(this Tensor a, Scalar value)
    {
        var r = a.add(value, One);
        GC.KeepAlive(value);
        return r;
    }
}

/// <summary>
/// A stretch of TorchSharp calls during which no garbage collection may start (<see cref="GC.TryStartNoGCRegion(long)"/>),
/// so no finalizer can free a temporary Scalar that a native op is still reading, whichever thread allocates.
/// The region ends at <see cref="Dispose"/>, or earlier if more than the budget is allocated (then a GC may run, as
/// without it). Nested or failed entries are no-ops. Set <c>CSR_GC_QUIET=0</c> to turn it off.
/// </summary>
public sealed class GcQuiet : IDisposable
{
    /// <summary>Managed bytes a step may allocate before the region lapses (step loops allocate far less).</summary>
    public const long DefaultBudget = 32L << 20;

    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("CSR_GC_QUIET") != "0";

    private readonly bool _entered;
    private GcQuiet(bool entered) => _entered = entered;

    /// <summary>True while this object holds the no-GC region.</summary>
    public bool Active => _entered && System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion;

    public static GcQuiet Enter(long budgetBytes = DefaultBudget)
    {
        if (!Enabled || System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) return new(false);
        try { return new(GC.TryStartNoGCRegion(budgetBytes)); }
        catch (InvalidOperationException) { return new(false); }   // another thread holds a region
        catch (ArgumentOutOfRangeException) { return new(false); } // budget above what the GC can promise
    }

    public void Dispose()
    {
        if (!_entered || System.Runtime.GCSettings.LatencyMode != System.Runtime.GCLatencyMode.NoGCRegion) return;
        try { GC.EndNoGCRegion(); }
        catch (InvalidOperationException) { } // the region already lapsed (budget exceeded or a GC was induced)
    }
}
