using Csr.Models.Fast;
using Csr.Models.Llama;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

/// <summary>The fused CPU decode attention over a shared prefix against the same attention written with TorchSharp ops.</summary>
public class SharedPrefixDecodeTests
{
    /// <summary>softmax(q k^T x scale) v with each row's prefix copied next to its own positions, in fp32.</summary>
    static Tensor Reference(Tensor q, Tensor pk, Tensor pv, Tensor sk, Tensor sv, Tensor? allowed, int g, double scale, long[]? prefixRows = null)
    {
        long n = q.shape[0], nh = q.shape[1], nkv = pk.shape[1];
        var rows = tensor(Enumerable.Range(0, (int)n).Select(r => prefixRows?[r / g] ?? (long)(r / g)).ToArray());
        var k = cat(new[] { pk.index_select(0, rows), sk }, 2).to_type(ScalarType.Float32);   // [N, nkv, P+S, hd]
        var v = cat(new[] { pv.index_select(0, rows), sv }, 2).to_type(ScalarType.Float32);
        k = LlamaAttention.RepeatKv(k, (int)(nh / nkv));
        v = LlamaAttention.RepeatKv(v, (int)(nh / nkv));
        var scores = q.to_type(ScalarType.Float32).matmul(k.transpose(-2, -1)) * scale;       // [N, nh, 1, P+S]
        if (allowed is not null) scores = scores.masked_fill(allowed.logical_not(), float.NegativeInfinity);
        return scores.softmax(-1).matmul(v);                                                   // [N, nh, 1, hd]
    }

    /// <summary>A cache-like tensor: [b, h, len, hd] viewed out of a larger buffer (spare capacity, as KvCache keeps).</summary>
    static Tensor Strided(Generator gen, long b, long h, long len, long hd, ScalarType dtype) =>
        randn(new[] { b, h, len + 3, hd }, generator: gen).to_type(dtype).narrow(2, 1, len);

    [Theory]
    [InlineData(ScalarType.Float32, 4, 4, 3, 32, true)]
    [InlineData(ScalarType.Float32, 4, 2, 5, 32, true)]   // grouped-query attention
    [InlineData(ScalarType.Float32, 8, 1, 2, 20, false)]  // head dimension not a multiple of the vector width, no mask
    [InlineData(ScalarType.BFloat16, 4, 2, 5, 64, true)]
    public void Fused_pass_equals_attention_over_copied_prefixes(ScalarType dtype, int heads, int kvHeads, int g, int hd, bool masked)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var gen = new Generator(11);
        long nodes = 3, n = nodes * g, p = 9, s = 4;
        var q = randn(new[] { n, 1, heads, (long)hd }, generator: gen).to_type(dtype).transpose(1, 2); // [N, nh, 1, hd], strided
        var pk = Strided(gen, nodes, kvHeads, p, hd, dtype);
        var pv = Strided(gen, nodes, kvHeads, p, hd, dtype);
        var sk = Strided(gen, n, kvHeads, s, hd, dtype);
        var sv = Strided(gen, n, kvHeads, s, hd, dtype);
        Tensor? allowed = null;
        if (masked)
        {
            // left padding of other lengths per prefix row, and a few own positions masked (never the newest)
            var m = ones(n, p + s, dtype: ScalarType.Bool);
            for (long r = 0; r < n; r++)
            {
                long pad = (r / g) * 2;
                if (pad > 0) m[r].narrow(0, 0, pad).fill_(false);
                if (r % 2 == 1) m[r, p].fill_(false);
            }
            allowed = m.reshape(n, 1, 1, p + s);
        }
        double scale = 1.0 / Math.Sqrt(hd);
        Assert.True(SharedPrefixDecode.Takes(q, pk, pv, sk, sv, allowed));
        var got = SharedPrefixDecode.Run(q, pk, pv, sk, sv, allowed, g, scale);
        Assert.Equal(new[] { n, (long)heads, 1, hd }, got.shape);
        Assert.Equal(dtype, got.dtype);
        var want = Reference(q, pk, pv, sk, sv, allowed, g, scale);
        double tol = dtype == ScalarType.BFloat16 ? 1e-2 : 1e-5; // bf16: the result rounded to 8 bits of mantissa
        double diff = (got.to_type(ScalarType.Float32) - want).abs().max().item<float>();
        Assert.True(diff <= tol, $"max |diff| {diff} > {tol}");
    }

    [Fact]
    public void Rows_may_read_a_subset_of_the_prefix_rows()
    {
        // a beam search whose first item finished: the rows of items 2 and 1 go on, reading prefix rows 2 and 1 of 3
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var gen = new Generator(5);
        const int g = 2, hd = 16;
        long[] map = [2, 1];
        long n = map.Length * g, p = 6, s = 3;
        var q = randn(new[] { n, 2, 1, (long)hd }, generator: gen);
        var pk = Strided(gen, 3, 1, p, hd, ScalarType.Float32);
        var pv = Strided(gen, 3, 1, p, hd, ScalarType.Float32);
        var sk = Strided(gen, n, 1, s, hd, ScalarType.Float32);
        var sv = Strided(gen, n, 1, s, hd, ScalarType.Float32);
        var got = SharedPrefixDecode.Run(q, pk, pv, sk, sv, null, g, 0.25, map);
        var want = Reference(q, pk, pv, sk, sv, null, g, 0.25, map);
        double diff = (got - want).abs().max().item<float>();
        Assert.True(diff <= 1e-5, $"max |diff| {diff}");
        var wrong = Reference(q, pk, pv, sk, sv, null, g, 0.25, [0, 1]);
        Assert.True((got - wrong).abs().max().item<float>() > 1e-3, "the map must matter in this case");
        Assert.Throws<ArgumentException>(() => SharedPrefixDecode.Run(q, pk, pv, sk, sv, null, g, 0.25, [3, 1]));
    }

    [Fact]
    public void Inputs_it_does_not_take_are_left_to_the_composed_ops()
    {
        using var scope = NewDisposeScope();
        var x = zeros(2, 1, 1, 8);
        var pk = zeros(1, 1, 3, 8);
        var sk = zeros(2, 1, 1, 8);
        Assert.False(SharedPrefixDecode.Takes(x.to_type(ScalarType.Float64), pk, pk, sk, sk, null));            // dtype
        Assert.False(SharedPrefixDecode.Takes(x, pk.to_type(ScalarType.BFloat16), pk, sk, sk, null));          // mixed dtypes
        Assert.False(SharedPrefixDecode.Takes(x.clone().requires_grad_(true), pk, pk, sk, sk, null));          // training
        Assert.False(SharedPrefixDecode.Takes(x, zeros(1, 1, 8, 3).transpose(2, 3), pk, sk, sk, null));        // head dim strided
        using (SharedPrefixDecode.DisableOnThisThread()) Assert.False(SharedPrefixDecode.Takes(x, pk, pk, sk, sk, null));
        Assert.True(SharedPrefixDecode.Takes(x, pk, pk, sk, sk, null));
        var ex = Assert.Throws<ArgumentException>(() => SharedPrefixDecode.Run(x, pk, pk, sk, sk, null, 3, 1.0));
        Assert.Contains("2 rows do not extend 1 prefix rows x 3", ex.Message);
    }
}
