using Csr.Models.Generation;
using Csr.Models.Llava;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Sampling;

/// <summary>
/// Sentence expansion without re-encoding. The image goes through the vision tower once and the prompt is
/// prefilled once per prompt. A depth's group beam search starts from its parents' context caches; only the
/// children that stay active get a cache: their parent's row is index-selected and just their sentence is
/// forwarded on top (right-padded, mask 0 on the padding; positions follow the mask, so results equal the
/// unbatched ones), and the active nodes of one depth run as one batch.
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
        _search = search with { ReturnCaches = false };
        _batchNodes = batchNodes;
    }

    public long ForwardedTokens { get; private set; }

    /// <summary>Group beam search calls run (one per depth when nodes are batched).</summary>
    public int SearchCalls { get; private set; }

    public IDisposable? Start() => new RootState();

    public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents)
    {
        var results = new IReadOnlyList<SentenceContinuation>[parents.Count];
        var indexed = parents.Select((p, i) => (p, i));
        var groups = _batchNodes
            ? indexed.GroupBy(x => x.p.State is ChildState c ? (object)c.Owner : x.p.State!).ToList()
            : indexed.GroupBy(x => (object)x.i).ToList();
        foreach (var g in groups)
        {
            var members = g.ToList();
            var start = StartFor(members.Select(m => m.p).ToList());
            int b = members.Count, r = _search.ReturnCount;
            GroupBeamSearchResult result;
            try { result = GroupBeamSearch.Run(_model, start, _search); }
            catch { start.Dispose(); throw; }
            using (result)
            {
                SearchCalls++;
                ForwardedTokens += (long)result.ItemSteps.Sum() * _search.NumBeams; // each node's beams, while its search runs
                var owner = new SharedStart(start, b * r);
                for (int k = 0; k < b; k++)
                    results[members[k].i] = result.Sequences[k]
                        .Select(s => new SentenceContinuation(s.Tokens, s.Score, new ChildState(owner, k, s.Tokens), s.TokenLogProbSum))
                        .ToList();
            }
        }
        return results;
    }

    GenerationStart StartFor(IReadOnlyList<SearchNode> nodes)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        if (nodes.All(n => n.State is RootState))
        {
            if (nodes.Count != 1) throw new InvalidOperationException("one root per expander");
            var feats = _model.EncodeImages(_pixels.unsqueeze(0));               // [1, P, H]
            var ids = tensor(_promptIds, device: feats.device).unsqueeze(0);      // [1, T]
            var embeds = _model.EmbedInputs(ids, feats);                          // [1, T, H]
            ForwardedTokens += _promptIds.Length;
            return GenerationStart.Prefill(_model, embeds, ones(1, _promptIds.Length, dtype: ScalarType.Int64, device: feats.device));
        }
        var states = nodes.Select(n => n.State as ChildState
            ?? throw new InvalidOperationException("a node without a parent cache cannot continue")).ToList();
        var parentStart = states[0].Owner.Start;
        int b = states.Count, t = states.Max(s => s.Tokens.Length);
        var device = parentStart.AttentionMask.device;
        var idx = tensor(states.Select(s => (long)s.ParentRow).ToArray(), device: device);
        var cache = parentStart.Cache.IndexSelect(idx);                           // [b, past] per layer
        try
        {
            var ids = new long[b * t];
            var pending = new long[b * t];
            for (int k = 0; k < b; k++)
                for (int j = 0; j < states[k].Tokens.Length; j++)
                {
                    ids[k * t + j] = states[k].Tokens[j];
                    pending[k * t + j] = 1;
                }
            var mask = cat([parentStart.AttentionMask.index_select(0, idx), tensor(pending, device: device).reshape(b, t)], 1); // [b, past + t]
            var h = _model.ForwardHidden(_model.Embed(tensor(ids, device: device).reshape(b, t)), mask, cache);                // [b, t, H]
            var lastPos = tensor(states.Select(s => (long)s.Tokens.Length - 1).ToArray(), device: device);
            var last = h.gather(1, lastPos.view(b, 1, 1).expand(b, 1, h.shape[2])).squeeze(1);                 // [b, H]
            var logits = nn.functional.linear(last, _model.LmHeadWeight).to_type(ScalarType.Float32);        // [b, V]
            ForwardedTokens += (long)b * t;
            return GenerationStart.FromCache(cache, mask, logits, takeOwnership: true);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    public void Dispose() => _pixels.Dispose();
}
