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

    public static List<SampledPrompt> Run(VisionLanguageModel vlm, IReadOnlyList<PromptEntry> prompts, string outDir,
        SampleStageOptions o, Action<SampledPrompt>? onPrompt = null, CancellationToken cancel = default)
    {
        o.Sample.Validate();
        var selected = SampleStage.Select(prompts, o.Shard, o.Limit);
        var tok = vlm.Tokenizer;
        // a model's embedding table may be padded past the tokenizer (llava-hf: 32064 vs 32002): such ids decode to nothing
        var search = new SentenceTreeSearch(o.Sample, ids => tok.Decode(ids.Where(i => i >= 0 && i < tok.VocabSize), skipSpecial: true), tok.EosId);
        var gbs = SearchOptions(o.Sample, SentenceEnd(o.Sample, tok), tok.EosId, tok.PadId);
        var dtype = vlm.Model.multi_modal_projector.linear_1.weight!.dtype;
        ISentenceExpander Make(PromptEntry p)
        {
            var pixels = Pixels(vlm, o, p);
            if (pixels.dtype != dtype) { var cast = pixels.to_type(dtype); pixels.Dispose(); pixels = cast; }
            var ids = vlm.PromptIds(o.Template.Format(p));
            int room = vlm.MaxPositions - ids.Length - o.Sample.MaxNewTokens - 1;
            if (room <= 0)
                throw new InvalidDataException($"prompt {p.Id}: {ids.Length} prompt tokens + max_new_tokens {o.Sample.MaxNewTokens} exceed the model's {vlm.MaxPositions} positions");
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
