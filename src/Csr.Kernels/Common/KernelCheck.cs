using System.Text;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The one comparison used for every reference-vs-fast check (tests, benchmarks' sanity checks, GPU
/// validation): element i passes when |got - ref| &lt;= atol + |ref| * rtol (both infinite with the same
/// sign, or both NaN, also pass). Reports the count of mismatches, the worst error and the first
/// mismatching multi-dimensional indices.
/// </summary>
public static class KernelCheck
{
    /// <summary>The outcome of a comparison.</summary>
    public sealed record Result(bool Ok, long Count, long Mismatches, double MaxAbsError, string Report)
    {
        /// <summary>The report line.</summary>
        public override string ToString() => Report;
    }

    /// <summary>Compares two tensors of the same shape (any float dtype; compared in float64).</summary>
    public static Result Compare(Tensor reference, Tensor actual, double atol, double rtol, string what = "tensor", int show = 5)
    {
        if (!reference.shape.SequenceEqual(actual.shape))
            return new Result(false, reference.numel(), reference.numel(), double.PositiveInfinity,
                $"{what}: shape mismatch, reference [{string.Join(", ", reference.shape)}] vs actual [{string.Join(", ", actual.shape)}]");
        using var r = reference.detach().cpu().to(ScalarType.Float64).contiguous();
        using var a = actual.detach().cpu().to(ScalarType.Float64).contiguous();
        return Compare(r.data<double>().ToArray(), a.data<double>().ToArray(), reference.shape, atol, rtol, what, show);
    }

    /// <summary>Compares two flat arrays viewed with <paramref name="shape"/> (for indices in the report).</summary>
    public static Result Compare(ReadOnlySpan<double> reference, ReadOnlySpan<double> actual, long[] shape, double atol, double rtol,
        string what = "tensor", int show = 5)
    {
        if (reference.Length != actual.Length)
            return new Result(false, reference.Length, reference.Length, double.PositiveInfinity,
                $"{what}: length mismatch {reference.Length} vs {actual.Length}");
        long bad = 0;
        double maxErr = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < reference.Length; i++)
        {
            double r = reference[i], a = actual[i];
            bool ok;
            double err;
            if (double.IsNaN(r) || double.IsNaN(a)) { ok = double.IsNaN(r) && double.IsNaN(a); err = ok ? 0 : double.PositiveInfinity; }
            else if (double.IsInfinity(r) || double.IsInfinity(a)) { ok = r == a; err = ok ? 0 : double.PositiveInfinity; }
            else { err = Math.Abs(a - r); ok = err <= atol + Math.Abs(r) * rtol; }
            if (err > maxErr) maxErr = err;
            if (!ok)
            {
                if (bad < show) sb.Append($"\n  at [{string.Join(", ", Unravel(i, shape))}]: reference {r:R}, actual {a:R}, |diff| {err:G4}");
                bad++;
            }
        }
        string head = bad == 0
            ? $"{what}: OK ({reference.Length} values, max |diff| {maxErr:G4}, atol {atol:G3}, rtol {rtol:G3})"
            : $"{what}: {bad} of {reference.Length} values differ beyond atol {atol:G3} + |ref| * rtol {rtol:G3} (max |diff| {maxErr:G4}); first:";
        return new Result(bad == 0, reference.Length, bad, maxErr, head + sb);
    }

    /// <summary>Exact equality of integer tensors (token ids, parents); reports the first differing indices.</summary>
    public static Result Equal(Tensor reference, Tensor actual, string what = "tensor", int show = 5)
    {
        if (!reference.shape.SequenceEqual(actual.shape))
            return new Result(false, reference.numel(), reference.numel(), double.PositiveInfinity,
                $"{what}: shape mismatch, reference [{string.Join(", ", reference.shape)}] vs actual [{string.Join(", ", actual.shape)}]");
        using var r = reference.detach().cpu().to(ScalarType.Int64).contiguous();
        using var a = actual.detach().cpu().to(ScalarType.Int64).contiguous();
        var rv = r.data<long>().ToArray();
        var av = a.data<long>().ToArray();
        long bad = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < rv.Length; i++)
        {
            if (rv[i] == av[i]) continue;
            if (bad < show) sb.Append($"\n  at [{string.Join(", ", Unravel(i, reference.shape))}]: reference {rv[i]}, actual {av[i]}");
            bad++;
        }
        string head = bad == 0 ? $"{what}: identical ({rv.Length} values)" : $"{what}: {bad} of {rv.Length} values differ; first:";
        return new Result(bad == 0, rv.Length, bad, bad == 0 ? 0 : double.PositiveInfinity, head + sb);
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> with the report when the comparison failed.</summary>
    public static void Require(Result result)
    {
        if (!result.Ok) throw new InvalidOperationException(result.Report);
    }

    private static long[] Unravel(long flat, long[] shape)
    {
        var idx = new long[Math.Max(shape.Length, 1)];
        if (shape.Length == 0) { idx[0] = flat; return idx; }
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            long s = Math.Max(shape[d], 1);
            idx[d] = flat % s;
            flat /= s;
        }
        return idx;
    }
}
