using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Native;
using Csr.Tests.Llama;
using static TorchSharp.torch;

namespace Csr.Tests.Device;

/// <summary>
/// Host reads in generation are per decision, not per beam: group beam search reads once per group and step
/// (whatever the number of rows and beams), greedy decoding once per step; the outputs stay on the model's device.
/// </summary>
public class GenerationSyncTests
{
    public GenerationSyncTests() => TorchRuntime.EnsureInitialised();

    [Theory]
    [InlineData(1, 5, 5)]
    [InlineData(3, 5, 5)]
    [InlineData(2, 6, 3)]
    public void Group_beam_search_reads_once_per_group_and_step(int rows, int beams, int groups)
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(LlamaConfig.Tiny(vocab: 16), 21);
        var ids = tensor(Enumerable.Range(0, rows * 3).Select(i => (long)(1 + i % 9)).ToArray()).reshape(rows, 3);
        using var start = GenerationStart.PrefillIds(m, ids);
        HostSync.Reset();
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = beams, NumBeamGroups = groups, DiversityPenalty = 3.0, StopTokenIds = new[] { 2 }, MaxNewTokens = 6, ReturnCaches = true,
        });
        int steps = res.Steps;
        Assert.Equal((long)groups * steps, HostSync.Reads);
        // per step: the later groups' diversity counts and one packed upload for the next step (none after the last)
        Assert.Equal((long)(groups - 1) * steps + (steps - 1) + 1, HostSync.Uploads);
        Assert.Equal(start.NextLogits.device.ToString(), res.AttentionMask!.device.ToString());
        Assert.Equal(start.NextLogits.device.ToString(), res.PendingIds!.device.ToString());
    }

    [Fact]
    public void Greedy_decoding_reads_once_per_step()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(LlamaConfig.Tiny(vocab: 16), 21);
        using var start = GenerationStart.PrefillIds(m, tensor(new long[] { 1, 5, 6, 1, 7, 3 }).reshape(2, 3));
        HostSync.Reset();
        var output = Decoding.Greedy(m, start, 7, new[] { 2 });
        int steps = output.Tokens.Max(t => t.Length);
        Assert.Equal(steps, HostSync.Reads);
    }
}
