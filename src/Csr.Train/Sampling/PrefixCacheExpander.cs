using Csr.Models.Generation;
using Csr.Models.Llava;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Sampling;

/// <summary>
/// Sentence expansion without re-encoding: the image goes through the vision tower once and the prompt is
/// prefilled once per prompt; each depth's nodes run as one batch of group beam searches that continues
/// from the rows of the previous depth's returned caches (each row = the parent's context + its sentence,
/// with its pending last token fed by <see cref="GenerationStart.FromPending"/>). Rows of different lengths
/// are right-padded with mask 0; positions follow the mask, so results equal the unbatched ones.
/// </summary>
public sealed class PrefixCacheExpander : ISentenceExpander, IDisposable
{
    readonly LlavaForConditionalGeneration _model;
    readonly GroupBeamSearchOptions _search;
    readonly bool _batchNodes;
    readonly long[] _promptIds; // image tokens expanded
    readonly Tensor _pixels;    // [3, S, S]

    sealed class RootState : IDisposable { public void Dispose() { } }

    public PrefixCacheExpander(LlavaForConditionalGeneration model, long[] promptIds, Tensor pixels, GroupBeamSearchOptions search, bool batchNodes = true)
    {
        _model = model;
        _promptIds = promptIds;
        _pixels = pixels;
        _search = search with { ReturnCaches = true };
        _batchNodes = batchNodes;
    }

    public long ForwardedTokens { get; private set; }

    /// <summary>Batched group beam search calls run.</summary>
    public int SearchCalls { get; private set; }

    public IDisposable? Start() => new RootState();

    public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents)
    {
        var results = new IReadOnlyList<SentenceContinuation>[parents.Count];
        // parents that share a previous result (one per depth when batching) run together
        var groups = _batchNodes
            ? parents.Select((p, i) => (p, i)).GroupBy(x => x.p.State is BeamRow r ? (object)r.Owner : x.p.State!).ToList()
            : parents.Select((p, i) => (p, i)).GroupBy(x => (object)x.i).ToList();
        foreach (var g in groups)
        {
            var members = g.ToList();
            using var start = StartFor(members.Select(m => m.p).ToList());
            var result = GroupBeamSearch.Run(_model, start, _search);
            SearchCalls++;
            int b = members.Count, r = _search.ReturnCount;
            int maxLen = result.Sequences.SelectMany(s => s).Max(s => s.Tokens.Length);
            ForwardedTokens += (long)result.Steps * b * _search.NumBeams + (long)b * r * Math.Max(0, maxLen - 1);
            var owner = new BeamRow.Shared(result, b * r);
            for (int k = 0; k < b; k++)
                results[members[k].i] = result.Sequences[k]
                    .Select((s, j) => new SentenceContinuation(s.Tokens, s.Score, new BeamRow(owner, k * r + j)))
                    .ToList();
        }
        return results;
    }

    GenerationStart StartFor(IReadOnlyList<SearchNode> parents)
    {
        if (parents.All(p => p.State is RootState))
        {
            if (parents.Count != 1) throw new InvalidOperationException("one root per expander");
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var feats = _model.EncodeImages(_pixels.unsqueeze(0));               // [1, P, H]
            var ids = tensor(_promptIds).unsqueeze(0);                            // [1, T]
            var embeds = _model.EmbedInputs(ids, feats);                          // [1, T, H]
            ForwardedTokens += _promptIds.Length;
            return GenerationStart.Prefill(_model, embeds, ones(1, _promptIds.Length, dtype: ScalarType.Int64));
        }
        var rows = parents.Select(p => p.State as BeamRow
            ?? throw new InvalidOperationException("a node without a cache row cannot continue")).ToList();
        var res = rows[0].Owner.Result;
        using (var scope = NewDisposeScope())
        {
            var idx = tensor(rows.Select(r => (long)r.Row).ToArray());
            var cache = res.Cache!.IndexSelect(idx);
            var mask = res.AttentionMask!.index_select(0, idx);
            var pending = res.PendingIds!.index_select(0, idx).unsqueeze(1);
            ForwardedTokens += rows.Count;
            return GenerationStart.FromPending(_model, cache, mask, pending, takeOwnership: true);
        }
    }

    public void Dispose() => _pixels.Dispose();
}
