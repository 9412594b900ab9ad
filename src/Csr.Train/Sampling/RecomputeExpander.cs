using Csr.Models.Generation;
using Csr.Models.Llava;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Sampling;

/// <summary>
/// The official code's cost model (<c>--no-prefix-cache</c>): every node re-runs the vision tower and
/// prefills the whole prompt + answer so far, then runs its group beam search alone.
/// </summary>
public sealed class RecomputeExpander : ISentenceExpander, IDisposable
{
    readonly LlavaForConditionalGeneration _model;
    readonly GroupBeamSearchOptions _search;
    readonly long[] _promptIds;
    readonly Tensor _pixels;

    public RecomputeExpander(LlavaForConditionalGeneration model, long[] promptIds, Tensor pixels, GroupBeamSearchOptions search)
    {
        _model = model;
        _promptIds = promptIds;
        _pixels = pixels;
        _search = search with { ReturnCaches = false };
    }

    public long ForwardedTokens { get; private set; }

    public IDisposable? Start() => null;

    public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents)
    {
        var all = new List<IReadOnlyList<SentenceContinuation>>();
        foreach (var p in parents)
        {
            int length = _promptIds.Length + p.AnswerIds.Length;
            GenerationStart start;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var feats = _model.EncodeImages(_pixels.unsqueeze(0));                           // [1, P, H]
                var device = feats.device;
                var embeds = _model.EmbedInputs(tensor(_promptIds, device: device).unsqueeze(0), feats); // [1, T, H]
                // generated ids are plain token embeddings (even an image-token id a model emits), as in generation
                if (p.AnswerIds.Length > 0)
                    embeds = cat([embeds, _model.Embed(tensor(p.AnswerIds.Select(i => (long)i).ToArray(), device: device).unsqueeze(0))], 1);
                start = GenerationStart.Prefill(_model, embeds, ones(1, length, dtype: ScalarType.Int64, device: device));
            }
            using (start)
            using (var result = GroupBeamSearch.Run(_model, start, _search))
            {
                ForwardedTokens += length + (long)result.Steps * _search.NumBeams;
                all.Add(result.Sequences[0].Select(s => new SentenceContinuation(s.Tokens, s.Score, null, s.TokenLogProbSum)).ToList());
            }
        }
        return all;
    }

    public void Dispose() => _pixels.Dispose();
}
