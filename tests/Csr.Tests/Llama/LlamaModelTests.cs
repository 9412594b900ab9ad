using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

public class LlamaModelTests
{
    public LlamaModelTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Eager_and_sdpa_give_the_same_logits_with_left_padding()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        var g = new Generator(2);
        var ids = TinyLlama.RandomIds(g, 2, 6, m.VocabSize);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).reshape(2, 6);
        m.AttentionImplementation = AttentionImplementation.Eager;
        var eager = m.ForwardIds(ids, mask);
        m.AttentionImplementation = AttentionImplementation.Sdpa;
        var sdpa = m.ForwardIds(ids, mask);
        // padded query rows are unused; compare real positions only
        TinyLlama.AssertClose(eager[0, 2..], sdpa[0, 2..], 1e-5, 1e-4, "row0");
        TinyLlama.AssertClose(eager[1], sdpa[1], 1e-5, 1e-4, "row1");
    }

    [Theory]
    [InlineData(AttentionImplementation.Eager, 32)]
    [InlineData(AttentionImplementation.Sdpa, 32)]
    [InlineData(AttentionImplementation.Sdpa, 1)]  // storage grows at every step
    public void Kv_cache_step_by_step_equals_full_recompute(AttentionImplementation impl, int growBy)
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        m.AttentionImplementation = impl;
        var g = new Generator(4);
        var ids = TinyLlama.RandomIds(g, 2, 7, m.VocabSize);
        var mask = tensor(new long[] { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).reshape(2, 7);
        var full = m.ForwardIds(ids, mask);
        using var cache = new KvCache(m.Config.NumHiddenLayers) { GrowBy = growBy };
        var parts = new List<Tensor> { m.ForwardIds(ids[.., ..3], mask[.., ..3], cache) }; // prefill 3
        Assert.Equal(3, cache.Length);
        parts.Add(m.ForwardIds(ids[.., 3..5], mask[.., ..5], cache));                       // 2 at once
        for (int t = 5; t < 7; t++) parts.Add(m.ForwardIds(ids[.., t..(t + 1)], mask[.., ..(t + 1)], cache)); // 1 by 1
        Assert.Equal(7, cache.Length);
        var inc = cat(parts.ToArray(), 1);
        TinyLlama.AssertClose(full[0, 1..], inc[0, 1..], 1e-5, 1e-4, "row0");
        TinyLlama.AssertClose(full[1], inc[1], 1e-5, 1e-4, "row1");
    }

    [Fact]
    public void Reordered_rows_keep_spare_capacity_so_the_next_step_appends_in_place()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad(); // inference: the cache stores in place only outside autograd
        using var m = TinyLlama.Create();
        var g = new Generator(5);
        var ids = TinyLlama.RandomIds(g, 3, 4, m.VocabSize);
        var mask = ones(3, 4, dtype: ScalarType.Int64);
        using var cache = new KvCache(m.Config.NumHiddenLayers) { GrowBy = 8 };
        m.ForwardIds(ids, mask, cache);                                            // compact: 4 positions
        m.ForwardIds(ids[.., ..1], ones(3, 5, dtype: ScalarType.Int64), cache);    // grows: 5 used of 13
        var rows = tensor(new long[] { 2, 0, 0 });
        using var compact = cache.IndexSelect(rows);
        using var reordered = cache.ReorderRows(rows);
        Assert.Equal(cache.Length, reordered.Length);
        for (int l = 0; l < cache.NumLayers; l++)
        {
            Assert.True(compact.Keys(l)!.eq(reordered.Keys(l)!).all().item<bool>(), $"keys of layer {l}");
            Assert.True(compact.Values(l)!.eq(reordered.Values(l)!).all().item<bool>(), $"values of layer {l}");
        }
        long before = reordered.Bytes;
        Assert.True(before > compact.Bytes, "the reordered cache keeps the spare positions");
        var next = tensor(new long[] { 1, 2, 3 }).reshape(3, 1);
        var a = m.ForwardIds(next, ones(3, 6, dtype: ScalarType.Int64), reordered);
        var b = m.ForwardIds(next, ones(3, 6, dtype: ScalarType.Int64), compact);
        Assert.Equal(before, reordered.Bytes);                                     // written in place, no new storage
        TinyLlama.AssertClose(b, a, 0, 0, "logits after the reorder");
    }

    [Theory]
    [InlineData(4, true)]  // as many key/value heads as query heads; the fused CPU kernel
    [InlineData(1, true)]  // grouped-query attention
    [InlineData(4, false)] // the composed ops
    [InlineData(1, false)]
    public void Rows_over_a_shared_prefix_compute_what_rows_with_copied_prefixes_compute(int kvHeads, bool fused)
    {
        using var composed = fused ? null : Csr.Models.Fast.SharedPrefixDecode.DisableOnThisThread();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var m = TinyLlama.Create(LlamaConfig.Tiny() with { NumKeyValueHeads = kvHeads });
        var g = new Generator(8);
        const int G = 3;
        var ids = TinyLlama.RandomIds(g, 2, 6, m.VocabSize);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).reshape(2, 6);  // row 0 left-padded
        using var prefix = m.NewCache();
        m.ForwardIds(ids, mask, prefix);
        var expand = tensor(new long[] { 0, 0, 0, 1, 1, 1 });
        var shared = KvCache.OverSharedPrefix(prefix, G);
        var copied = prefix.IndexSelect(expand);
        var rowMask = mask.index_select(0, expand);
        var reorders = new[] { new long[] { 1, 0, 0, 5, 3, 4 }, new long[] { 2, 2, 1, 3, 3, 5 } }; // within each prefix row
        try
        {
            for (int step = 0; step < 3; step++)
            {
                var next = TinyLlama.RandomIds(g, 6, 1, m.VocabSize);
                rowMask = cat(new[] { rowMask, ones(6, 1, dtype: ScalarType.Int64) }, 1);
                var a = m.ForwardIds(next, rowMask, shared);
                var b = m.ForwardIds(next, rowMask, copied);
                Assert.Equal(copied.Length, shared.Length);
                TinyLlama.AssertClose(b, a, 1e-5, 1e-4, $"step {step}");
                if (step < reorders.Length)
                {
                    var order = tensor(reorders[step]);
                    var (s2, c2) = (shared.ReorderRows(order), copied.ReorderRows(order));
                    shared.Dispose(); copied.Dispose();
                    (shared, copied) = (s2, c2);
                }
            }
            Assert.Throws<InvalidOperationException>(() => shared.IndexSelect(expand));
        }
        finally { shared.Dispose(); copied.Dispose(); }
        Assert.False(prefix.IsEmpty); // the shared prefix is not disposed with the rows' cache
    }

    [Fact]
    public void Batched_with_left_padding_equals_one_by_one()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(LlamaConfig.Tiny() with { NumKeyValueHeads = 1 });
        var g = new Generator(6);
        int[] lens = { 5, 2, 4 };
        var seqs = lens.Select(l => TinyLlama.RandomIds(g, 1, l, m.VocabSize)).ToArray();
        int T = lens.Max();
        var ids = zeros(new long[] { 3, T }, dtype: ScalarType.Int64);
        var mask = zeros(new long[] { 3, T }, dtype: ScalarType.Int64);
        for (int i = 0; i < 3; i++)
        {
            ids[i, (T - lens[i])..] = seqs[i][0];
            mask[i, (T - lens[i])..] = 1;
        }
        // prefill then two cached decode steps, batched vs alone
        using var cache = m.NewCache();
        var batched = m.ForwardIds(ids, mask, cache);
        var next = tensor(new long[] { 7, 8, 9 }).reshape(3, 1);
        var mask2 = cat(new[] { mask, ones(3, 1, dtype: ScalarType.Int64) }, 1);
        var step = m.ForwardIds(next, mask2, cache);
        for (int i = 0; i < 3; i++)
        {
            using var c1 = m.NewCache();
            var alone = m.ForwardIds(seqs[i], null, c1);
            TinyLlama.AssertClose(alone[0], batched[i, (T - lens[i])..], 1e-5, 1e-4, $"prefill seq {i}");
            var aloneStep = m.ForwardIds(next[i..(i + 1)], null, c1);
            TinyLlama.AssertClose(aloneStep[0], step[i], 1e-5, 1e-4, $"step seq {i}");
        }
    }

    [Fact]
    public void Cache_clone_is_independent_and_index_select_reorders_rows()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        var g = new Generator(8);
        var ids = TinyLlama.RandomIds(g, 2, 4, m.VocabSize);
        using var cache = m.NewCache();
        m.ForwardIds(ids, null, cache);
        using var clone = cache.Clone();
        var k0 = cache.Keys(0)!.clone();
        // extending the clone leaves the original untouched
        var nxt = tensor(new long[] { 5, 6 }).reshape(2, 1);
        var viaClone = m.ForwardIds(nxt, null, clone);
        Assert.Equal(4, cache.Length);
        Assert.Equal(5, clone.Length);
        Assert.True(cache.Keys(0)!.equal(k0).all().item<bool>());
        var viaOrig = m.ForwardIds(nxt, null, cache);
        Assert.True(viaClone.equal(viaOrig).all().item<bool>());

        // IndexSelect [1, 1, 0]: rows duplicated and swapped; continuing gives the per-row results
        using var sel = cache.IndexSelect(tensor(new long[] { 1, 1, 0 }));
        Assert.Equal(3, sel.BatchSize);
        for (int l = 0; l < sel.NumLayers; l++)
        {
            Assert.True(sel.Keys(l)![0].equal(cache.Keys(l)![1]).all().item<bool>());
            Assert.True(sel.Values(l)![2].equal(cache.Values(l)![0]).all().item<bool>());
        }
        var n3 = tensor(new long[] { 9, 10, 11 }).reshape(3, 1);
        var out3 = m.ForwardIds(n3, null, sel);
        using var c0 = cache.IndexSelect(tensor(new long[] { 0 }));
        var out0 = m.ForwardIds(tensor(new long[] { 11 }).reshape(1, 1), null, c0);
        TinyLlama.AssertClose(out0[0], out3[2], 1e-6, 1e-5, "row 2 continues row 0");
    }

    [Fact]
    public void Concat_stacks_batches_and_rejects_different_lengths()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        var g = new Generator(12);
        using var a = m.NewCache();
        using var b = m.NewCache();
        m.ForwardIds(TinyLlama.RandomIds(g, 1, 3, m.VocabSize), null, a);
        m.ForwardIds(TinyLlama.RandomIds(g, 2, 3, m.VocabSize), null, b);
        using var c = KvCache.Concat(new[] { a, b });
        Assert.Equal(3, c.BatchSize);
        Assert.Equal(3, c.Length);
        for (int l = 0; l < c.NumLayers; l++)
        {
            Assert.True(c.Keys(l)![0].equal(a.Keys(l)![0]).all().item<bool>());
            Assert.True(c.Values(l)![2].equal(b.Values(l)![1]).all().item<bool>());
        }
        m.ForwardIds(tensor(new long[] { 4 }).reshape(1, 1), null, a);
        Assert.Throws<ArgumentException>(() => KvCache.Concat(new[] { a, b }));
        Assert.Throws<ArgumentException>(() => b.IndexSelect(tensor(new long[] { 0, 2 })));
        Assert.Throws<ArgumentException>(() => m.ForwardIds(tensor(new long[] { 4 }).reshape(1, 1), null, b)); // batch 1 vs cache batch 2
    }

    [Fact]
    public void Bf16_model_logits_are_close_to_fp32()
    {
        using var scope = NewDisposeScope();
        using var m32 = TinyLlama.Create(seed: 9);
        using var m16 = TinyLlama.Create(seed: 9, dtype: ScalarType.BFloat16);
        var ids = TinyLlama.RandomIds(new Generator(1), 1, 5, m32.VocabSize);
        var a = m32.ForwardIds(ids);
        var b = m16.ForwardIds(ids).to_type(ScalarType.Float32);
        var err = (a - b).abs().max().item<float>();
        var scale = a.abs().max().item<float>();
        Assert.True(err < 0.1 * scale, $"bf16 logits error {err} vs scale {scale}");
        Assert.Equal(ScalarType.BFloat16, m16.LmHeadWeight.dtype);
    }
}
