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
