using Csr.Models.Llama;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

/// <summary>Forwards, rows and positions of the language model, as the sampling benchmark reports them.</summary>
public class ForwardStatsTests
{
    public ForwardStatsTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void A_prefill_and_cached_steps_count_one_forward_each_with_their_rows()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create();
        using var _ = no_grad();
        var before = ForwardStats.Snapshot();
        var cache = m.NewCache();
        var ids = TinyLlama.RandomIds(new Generator(1), 3, 6, m.VocabSize);
        m.ForwardIds(ids, cache: cache);                            // prefill: 3 rows x 6 positions
        for (int step = 0; step < 2; step++)                        // two decode steps: 3 rows x 1 position
            m.ForwardIds(TinyLlama.RandomIds(new Generator((ulong)step + 2), 3, 1, m.VocabSize), ones(3, 7 + step, dtype: ScalarType.Int64), cache);
        var d = ForwardStats.Snapshot() - before;
        Assert.Equal(new ForwardStats.Counts(3, 9, 18 + 6), d);
        Assert.Equal(3.0, d.RowsPerForward);
        Assert.Equal(0.0, new ForwardStats.Counts(0, 0, 0).RowsPerForward);
    }
}
