using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>Greedy decoding and temperature / top-k / top-p sampling with the KV cache, on any <see cref="ICausalLm"/>.</summary>
public static class Decoding
{
    /// <summary>argmax decoding from <paramref name="start"/> (not modified); rows stop after a stop token.</summary>
    public static GenerationOutput Greedy(ICausalLm lm, GenerationStart start, int maxNewTokens, IReadOnlyCollection<int>? stopTokenIds = null)
        => Run(lm, start, maxNewTokens, stopTokenIds ?? Array.Empty<int>(), logits => logits.argmax(-1));

    /// <summary>Sampling with HF's warpers, reproducible for a seeded <paramref name="generator"/>.</summary>
    public static GenerationOutput Sample(ICausalLm lm, GenerationStart start, SamplingOptions options, Generator generator)
    {
        options.Validate();
        return Run(lm, start, options.MaxNewTokens, options.StopTokenIds, logits =>
        {
            using var scope = torch.NewDisposeScope();
            var s = LogitsWarpers.Temperature(logits, options.Temperature);
            if (options.TopK > 0) s = LogitsWarpers.TopK(s, options.TopK);
            s = LogitsWarpers.TopP(s, options.TopP);
            var probs = s.softmax(-1);
            return probs.multinomial(1, false, generator).squeeze(1).MoveToOuterDisposeScope();
        });
    }

    private static GenerationOutput Run(ICausalLm lm, GenerationStart start, int maxNewTokens, IReadOnlyCollection<int> stop, Func<Tensor, Tensor> choose)
    {
        if (maxNewTokens <= 0) throw new ArgumentException($"max_new_tokens must be > 0, got {maxNewTokens}");
        int b = (int)start.BatchSize;
        var tokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var stopped = new bool[b];
        var stopSet = stop.ToHashSet();
        long pad = stop.Count > 0 ? stop.First() : 0;
        using var cache = start.Cache.Clone();
        using var outer = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var mask = start.AttentionMask.clone();
        var logits = start.NextLogits;
        var device = logits.device;
        // rows that stopped at an earlier step, on the device (they are fed pad); uploaded only when that set grows
        Tensor? stoppedDev = null;
        int stoppedOnDevice = 0;
        for (int step = 0; step < maxNewTokens; step++)
        {
            using var scope = torch.NewDisposeScope();
            var next = choose(logits).to_type(ScalarType.Int64);          // [B] on the device
            var ids = HostSync.Read<long>(next);                           // the one host read of the step: stop decisions
            int stoppedBefore = stopped.Count(x => x);
            if (stoppedBefore != stoppedOnDevice)
            {
                stoppedDev?.Dispose();
                stoppedDev = HostSync.Upload(stopped.Select(x => x ? 1L : 0L).ToArray(), device).to_type(ScalarType.Bool).MoveToOtherDisposeScope(outer);
                stoppedOnDevice = stoppedBefore;
            }
            for (int i = 0; i < b; i++)
            {
                if (stopped[i]) { ids[i] = pad; continue; }
                tokens[i].Add((int)ids[i]);
                if (stopSet.Contains((int)ids[i])) stopped[i] = true;
            }
            if (stopped.All(x => x) || step == maxNewTokens - 1) break;
            var nextIds = (stoppedDev is null ? next : next.masked_fill(stoppedDev, pad)).reshape(b, 1);
            var newMask = torch.cat(new[] { mask, torch.ones(b, 1, dtype: ScalarType.Int64, device: device) }, 1).MoveToOtherDisposeScope(outer);
            var newLogits = GenerationStart.LastLogits(lm, lm.Embed(nextIds), newMask, cache).MoveToOtherDisposeScope(outer);
            mask.Dispose();
            if (!ReferenceEquals(logits, start.NextLogits)) logits.Dispose();
            mask = newMask;
            logits = newLogits;
        }
        return new GenerationOutput(tokens.Select(t => t.ToArray()).ToArray(), stopped);
    }
}
