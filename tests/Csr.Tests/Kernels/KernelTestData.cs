using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

/// <summary>Random inputs for the kernel properties, from a seed (FsCheck supplies seeds and sizes).</summary>
internal static class KernelTestData
{
    /// <summary>Logits [.., V]: standard normal * 3, and with extremes = true some entries at +-1e4.</summary>
    public static Tensor Logits(long[] shape, Generator g, bool extremes, ScalarType dtype = ScalarType.Float32)
    {
        var x = randn(shape, generator: g) * 3;
        if (extremes)
        {
            var u = rand(shape, generator: g);
            x = where(u.lt(0.02), full_like(x, 1e4f), x);
            x = where(u.gt(0.98), full_like(x, -1e4f), x);
        }
        return x.to(dtype);
    }

    /// <summary>Token ids in [0, V) with some -100 (ignored) entries.</summary>
    public static Tensor Labels(long n, long t, long v, Generator g)
    {
        var lab = randint(0, v, new long[] { n, t }, generator: g, dtype: ScalarType.Int64);
        var u = rand(new long[] { n, t }, generator: g);
        return where(u.lt(0.1), full_like(lab, -100L), lab);
    }

    /// <summary>0/1 mask with about 30% masked positions, and row <paramref name="allMaskedRow"/> (if valid) all zero.</summary>
    public static Tensor Mask(long n, long t, Generator g, long allMaskedRow)
    {
        var m = rand(new long[] { n, t }, generator: g).gt(0.3).to(ScalarType.Float32);
        if (allMaskedRow >= 0 && allMaskedRow < n) m[allMaskedRow] = zeros(t);
        return m;
    }
}
