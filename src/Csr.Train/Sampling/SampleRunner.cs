using Csr.Models.Generation;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using static TorchSharp.torch;

namespace Csr.Train.Sampling;

/// <summary>Everything the sample stage needs besides the model and the prompts. <paramref name="ImageAspectRatio"/>:
/// "none" as the official sample.py (llava-hf AutoProcessor: resize and center crop, no pad) or "pad".</summary>
public sealed record SampleStageOptions(SampleOptions Sample, PromptTemplate Template, ImagePathRule Images, Shard Shard, int? Limit = null,
    string ImageAspectRatio = "none");

/// <summary>The sample stage on a LLaVA model: one expander per prompt (prefix-cached or re-encoding).</summary>
public static class SampleRunner
{
    /// <summary>The sentence-end id: the option, else the tokenizer's "." piece.</summary>
    public static int SentenceEnd(SampleOptions o, Csr.Models.Tokenizers.ITextTokenizer tok) =>
        o.SentenceEndId ?? tok.TokenToId(".") ?? tok.TokenToId("▁.")
        ?? throw new ArgumentException("the tokenizer has no \".\" token: give --sentence-end-id");

    public static GroupBeamSearchOptions SearchOptions(SampleOptions o, int sentenceEnd, int eosId, int? padId) => new()
    {
        NumBeams = o.NumTokenBeams,
        NumBeamGroups = o.NumBeamGroups,
        DiversityPenalty = o.DiversityPenalty,
        StopTokenIds = sentenceEnd == eosId ? [eosId] : [sentenceEnd, eosId],
        MaxNewTokens = o.MaxNewTokens,
        NumReturnSequences = o.NumTokenBeams,
        PadTokenId = padId,
        // --fused: the one-pass beam step of Csr.Kernels (path from CSR_KERNEL_PATH, default fused); without it the
        // plain TorchSharp ops, counted as the beam step's reference path
        StepPath = Csr.Kernels.FusedOps.For(o.Fused).Path,
    };

    /// <summary>[3, H, W] float32 pixels of a prompt's image as the sample stage feeds them to the model
    /// (the model's processor with the stage's <see cref="SampleStageOptions.ImageAspectRatio"/>).</summary>
    public static Tensor Pixels(VisionLanguageModel vlm, SampleStageOptions o, PromptEntry p) =>
        vlm.Images.WithAspectRatio(o.ImageAspectRatio).Preprocess(o.Images.ResolveExisting(p));

    /// <summary>
    /// The sample stage: prefix-cache mode with batched nodes runs up to <see cref="SampleOptions.BatchPrompts"/> trees
    /// together (<see cref="SampleStage.RunBatched"/>); re-encoding or unbatched nodes run one prompt at a time.
    /// <paramref name="throughput"/>, when given, receives the run's forward counts.
    /// </summary>
    public static List<SampledPrompt> Run(VisionLanguageModel vlm, IReadOnlyList<PromptEntry> prompts, string outDir,
        SampleStageOptions o, Action<SampledPrompt>? onPrompt = null, CancellationToken cancel = default, SampleThroughput? throughput = null)
    {
        o.Sample.Validate();
        if (!o.Sample.PrefixCache || !o.Sample.BatchNodes) return RunPerPrompt(vlm, prompts, outDir, o, onPrompt, cancel);
        var selected = SampleStage.Select(prompts, o.Shard, o.Limit);
        var search = TreeSearch(vlm, o);
        var tok = vlm.Tokenizer;
        var gbs = SearchOptions(o.Sample, SentenceEnd(o.Sample, tok), tok.EosId, tok.PadId);
        var expander = new BatchedPrefixCacheExpander(vlm.Model, gbs, throughput);
        int n = o.Sample.BatchPromptsFor(vlm.Model.Device.type, KvBytesPerTree(vlm, o.Sample));
        using var _ = no_grad();
        Csr.Kernels.KernelStats.Reset();
        try
        {
            return SampleStage.RunBatched(selected, outDir, o.Template, n,
                p => { var (ids, room) = PromptIds(vlm, o, p); return (ids, room); },
                p => ModelPixels(vlm, o, p), expander, search, onPrompt, cancel);
        }
        finally { Csr.Kernels.KernelStats.Snapshot().Write(outDir); }
    }

    /// <summary>KV-cache bytes of one tree of this model (context: the image tokens and 64 text tokens).</summary>
    public static long KvBytesPerTree(VisionLanguageModel vlm, SampleOptions o)
    {
        var c = vlm.Model.Config;
        var t = c.TextConfig;
        int elementSize = (int)vlm.Model.LmHeadWeight.ElementSize;
        return o.KvBytesPerTree(t.NumHiddenLayers, t.NumKeyValueHeads ?? t.NumAttentionHeads, t.HeadDim, elementSize, c.ImageSeqLength + 64);
    }

    static SentenceTreeSearch TreeSearch(VisionLanguageModel vlm, SampleStageOptions o)
    {
        var tok = vlm.Tokenizer;
        // a model's embedding table may be padded past the tokenizer (llava-hf: 32064 vs 32002): such ids decode to nothing
        return new SentenceTreeSearch(o.Sample, ids => tok.Decode(ids.Where(i => i >= 0 && i < tok.VocabSize), skipSpecial: true), tok.EosId);
    }

    /// <summary>A prompt's ids (image tokens expanded) and the answer tokens it may take: what its context leaves, at most
    /// <see cref="SampleOptions.MaxAnswerTokens"/>.</summary>
    static (long[] Ids, int Room) PromptIds(VisionLanguageModel vlm, SampleStageOptions o, PromptEntry p)
    {
        var ids = vlm.PromptIds(o.Template.Format(p));
        int room = vlm.MaxPositions - ids.Length - o.Sample.MaxNewTokens - 1;
        if (room <= 0)
            throw new InvalidDataException($"prompt {p.Id}: {ids.Length} prompt tokens + max_new_tokens {o.Sample.MaxNewTokens} exceed the model's {vlm.MaxPositions} positions");
        return (ids, o.Sample.MaxAnswerTokens is int cap ? Math.Min(cap, room) : room);
    }

    /// <summary>A prompt's pixels in the model dtype (the image decoded, resized and normalised; thread-safe).</summary>
    static Tensor ModelPixels(VisionLanguageModel vlm, SampleStageOptions o, PromptEntry p)
    {
        var dtype = vlm.Model.multi_modal_projector.linear_1.weight!.dtype;
        var pixels = Pixels(vlm, o, p);
        if (pixels.dtype != dtype) { var cast = pixels.to_type(dtype); pixels.Dispose(); pixels = cast; }
        return pixels;
    }

    /// <summary>A prompt's ids (image tokens expanded), its pixels in the model dtype and the answer tokens its context leaves.</summary>
    static (long[] Ids, Tensor Pixels, int Room) Prepare(VisionLanguageModel vlm, SampleStageOptions o, PromptEntry p)
    {
        var (ids, room) = PromptIds(vlm, o, p);
        return (ids, ModelPixels(vlm, o, p), room);
    }

    /// <summary>One prompt at a time, each with its own expander (prefix-cached or re-encoding).</summary>
    public static List<SampledPrompt> RunPerPrompt(VisionLanguageModel vlm, IReadOnlyList<PromptEntry> prompts, string outDir,
        SampleStageOptions o, Action<SampledPrompt>? onPrompt = null, CancellationToken cancel = default)
    {
        o.Sample.Validate();
        var selected = SampleStage.Select(prompts, o.Shard, o.Limit);
        var tok = vlm.Tokenizer;
        var search = TreeSearch(vlm, o);
        var gbs = SearchOptions(o.Sample, SentenceEnd(o.Sample, tok), tok.EosId, tok.PadId);
        ISentenceExpander Make(PromptEntry p)
        {
            var (ids, pixels, room) = Prepare(vlm, o, p);
            search.MaxAnswerTokens = room;
            return o.Sample.PrefixCache
                ? new PrefixCacheExpander(vlm.Model, ids, pixels, gbs, o.Sample.BatchNodes)
                : new RecomputeExpander(vlm.Model, ids, pixels, gbs);
        }
        using var _ = no_grad();
        Csr.Kernels.KernelStats.Reset();
        try { return SampleStage.Run(selected, outDir, o.Template, Make, search, onPrompt, cancel); }
        finally { Csr.Kernels.KernelStats.Snapshot().Write(outDir); }
    }
}
