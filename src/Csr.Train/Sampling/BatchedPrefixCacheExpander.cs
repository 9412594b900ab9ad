using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Models.Llava;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Sampling;

/// <summary>One prompt as the model takes it: its ids (image tokens expanded) and its pixels <c>[3, S, S]</c> in the model dtype.</summary>
public sealed record TreePrompt(long[] PromptIds, Tensor Pixels);

/// <summary>Forward counts of a sample run, summed over its prompts.</summary>
public sealed class SampleThroughput
{
    /// <summary>Prompts whose tree was built (skipped ones excluded).</summary>
    public int Prompts { get; set; }
    /// <summary>Wall seconds of the run.</summary>
    public double Seconds { get; set; }
    /// <summary>Model tokens forwarded (prefill, sentence feeds and decode rows, padding included).</summary>
    public long ForwardedTokens { get; set; }
    /// <summary>Prefill forwards (vision tower + prompt) and the prompts they held.</summary>
    public long Prefills { get; set; }
    public long PrefillPrompts { get; set; }
    /// <summary>Group beam searches run (one per expanded depth of the batch).</summary>
    public long Searches { get; set; }
    /// <summary>Decode forwards inside the searches and the rows (beams) they held.</summary>
    public long DecodeForwards { get; set; }
    public long DecodeRows { get; set; }

    /// <summary>Per search, in order: the trees it advanced and the prompts still waiting for a slot.</summary>
    public List<(int Trees, int Waiting)> Schedule { get; } = new();

    public double RowsPerDecodeForward => DecodeForwards == 0 ? 0 : (double)DecodeRows / DecodeForwards;
    public double SecondsPerPrompt => Prompts == 0 ? 0 : Seconds / Prompts;
    public double ForwardedTokensPerPrompt => Prompts == 0 ? 0 : (double)ForwardedTokens / Prompts;
}

/// <summary>
/// Sentence expansion for the trees of many prompts at once. The images of the prompts that join together go through
/// the vision tower as one batch and their prompts are prefilled as one left-padded batch. Each depth gathers the active
/// nodes of every tree into one group beam search (one forward per step for all their beams): a node's row is
/// index-selected from the cache of the search that produced it, caches of different lengths are left-padded with mask 0,
/// positions no row attends are dropped, and the node's sentence is forwarded on top (right-padded, mask 0 on the
/// padding). Positions follow the mask, so every tree equals the tree of its prompt alone.
/// </summary>
public sealed class BatchedPrefixCacheExpander
{
    readonly LlavaForConditionalGeneration _model;
    readonly GroupBeamSearchOptions _search;
    readonly long _padId;

    public BatchedPrefixCacheExpander(LlavaForConditionalGeneration model, GroupBeamSearchOptions search, SampleThroughput? throughput = null)
    {
        _model = model;
        _search = search with { ReturnCaches = false };
        long pad = search.PadTokenId ?? (search.StopTokenIds.Count > 0 ? search.StopTokenIds[0] : 0);
        _padId = pad == model.Config.ImageTokenIndex ? 0 : pad;
        Throughput = throughput ?? new SampleThroughput();
    }

    public SampleThroughput Throughput { get; }

    /// <summary>A row of a batch start: its cache and next-token logits, no sentence pending (a root after the prefill).</summary>
    sealed class ReadyState(SharedStart owner, int row) : IDisposable
    {
        bool _disposed;
        public SharedStart Owner { get; } = owner;
        public int Row { get; } = row;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Owner.Release();
        }
    }

    /// <summary>
    /// The root states of <paramref name="prompts"/>: one vision-tower batch over their images and one left-padded
    /// prefill. <paramref name="forwarded"/>[i] receives the tokens forwarded for prompt i.
    /// </summary>
    public IReadOnlyList<IDisposable> StartRoots(IReadOnlyList<TreePrompt> prompts, long[] forwarded)
    {
        int n = prompts.Count;
        if (n == 0) return [];
        GenerationStart start;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var pixels = stack(prompts.Select(p => p.Pixels).ToArray(), 0);        // [n, 3, S, S]
            var feats = _model.EncodeImages(pixels);                                // [n, P, H]
            var device = feats.device;
            int t = prompts.Max(p => p.PromptIds.Length);
            var ids = new long[n * t];
            var mask = new long[n * t];
            for (int i = 0; i < n; i++)
            {
                var p = prompts[i].PromptIds;
                int offset = t - p.Length;                                          // left padding, as HF batches prompts
                for (int j = 0; j < t; j++)
                {
                    bool real = j >= offset;
                    ids[i * t + j] = real ? p[j - offset] : _padId;
                    mask[i * t + j] = real ? 1 : 0;
                }
                forwarded[i] += t;
            }
            var embeds = _model.EmbedInputs(tensor(ids, device: device).reshape(n, t), feats); // [n, t, H]
            start = GenerationStart.Prefill(_model, embeds, tensor(mask, device: device).reshape(n, t));
            Throughput.Prefills++;
            Throughput.PrefillPrompts += n;
            Throughput.ForwardedTokens += (long)n * t;
        }
        var owner = new SharedStart(start, n);
        return Enumerable.Range(0, n).Select(i => (IDisposable)new ReadyState(owner, i)).ToList();
    }

    /// <summary>
    /// For each parent (nodes of any trees), in order, its <c>num_token_beams</c> continuations, from one group beam search.
    /// <paramref name="forwarded"/>[i] receives the tokens forwarded for parent i's row.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents, long[] forwarded)
    {
        var results = new IReadOnlyList<SentenceContinuation>[parents.Count];
        if (parents.Count == 0) return results;
        var pending = new List<int>();
        var ready = new List<int>();
        for (int i = 0; i < parents.Count; i++)
        {
            switch (parents[i].State)
            {
                case ChildState: pending.Add(i); break;
                case ReadyState: ready.Add(i); break;
                default: throw new InvalidOperationException("a node without a batch start cannot continue");
            }
        }
        GenerationStart start;
        var order = new List<int>(); // parent index of each batch row
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var parts = new List<(KvCache Cache, Tensor Mask, Tensor Logits)>();
            try
            {
                if (pending.Count > 0)
                {
                    var rows = pending.Select(i => (ChildState)parents[i].State!).Select(s => (s.Owner, s.ParentRow)).ToList();
                    var (cache, mask, perm) = Gather(rows);
                    parts.Add((cache, mask, null!));
                    var states = perm.Select(k => (ChildState)parents[pending[k]].State!).ToList();
                    int b = states.Count, t = states.Max(s => s.Tokens.Length);
                    var device = mask.device;
                    var ids = new long[b * t];
                    var fed = new long[b * t];
                    for (int k = 0; k < b; k++)
                    {
                        for (int j = 0; j < t; j++) ids[k * t + j] = _padId;
                        for (int j = 0; j < states[k].Tokens.Length; j++)
                        {
                            ids[k * t + j] = states[k].Tokens[j];
                            fed[k * t + j] = 1;
                        }
                        forwarded[pending[perm[k]]] += t;
                        order.Add(pending[perm[k]]);
                    }
                    var fullMask = cat([mask, tensor(fed, device: device).reshape(b, t)], 1);          // [b, past + t]
                    var h = _model.ForwardHidden(_model.Embed(tensor(ids, device: device).reshape(b, t)), fullMask, cache); // [b, t, H]
                    var lastPos = tensor(states.Select(s => (long)s.Tokens.Length - 1).ToArray(), device: device);
                    var last = h.gather(1, lastPos.view(b, 1, 1).expand(b, 1, h.shape[2])).squeeze(1);   // [b, H]
                    var logits = nn.functional.linear(last, _model.LmHeadWeight).to_type(ScalarType.Float32); // [b, V]
                    parts[^1] = (cache, fullMask, logits);
                    Throughput.ForwardedTokens += (long)b * t;
                }
                if (ready.Count > 0)
                {
                    var rows = ready.Select(i => (ReadyState)parents[i].State!).Select(s => (s.Owner, s.Row)).ToList();
                    var (cache, mask, perm) = Gather(rows);
                    parts.Add((cache, mask, null!));
                    var logits = cat(perm.Select(k => rows[k].Owner.Start.NextLogits.narrow(0, rows[k].Row, 1)).ToArray(), 0); // [b, V]
                    parts[^1] = (cache, mask, logits);
                    order.AddRange(perm.Select(k => ready[k]));
                }
                if (parts.Count == 1)
                {
                    start = GenerationStart.FromCache(parts[0].Cache, parts[0].Mask, parts[0].Logits, takeOwnership: true);
                    parts.Clear();
                }
                else
                {
                    long length = parts.Max(p => p.Cache.Length);
                    var merged = KvCache.ConcatLeftPadded(parts.Select(p => p.Cache).ToList(), length);
                    var mask = cat(parts.Select(p => LeftPad(p.Mask, length)).ToArray(), 0);
                    var logits = cat(parts.Select(p => p.Logits).ToArray(), 0);
                    foreach (var p in parts) p.Cache.Dispose();
                    parts.Clear();
                    (merged, mask) = Compact(merged, mask);
                    start = GenerationStart.FromCache(merged, mask, logits, takeOwnership: true);
                }
            }
            finally
            {
                foreach (var p in parts) p.Cache.Dispose();
            }
        }
        GroupBeamSearchResult result;
        try { result = GroupBeamSearch.Run(_model, start, _search); }
        catch { start.Dispose(); throw; }
        using (result)
        {
            int rowsN = order.Count, r = _search.ReturnCount;
            Throughput.Searches++;
            Throughput.DecodeForwards += Math.Max(0, result.Steps - 1);
            Throughput.DecodeRows += result.DecodeRows;
            Throughput.ForwardedTokens += (long)result.ItemSteps.Sum() * _search.NumBeams;
            var owner = new SharedStart(start, rowsN * r);
            for (int k = 0; k < rowsN; k++)
            {
                forwarded[order[k]] += (long)result.ItemSteps[k] * _search.NumBeams;
                results[order[k]] = result.Sequences[k]
                    .Select(s => new SentenceContinuation(s.Tokens, s.Score, new ChildState(owner, k, s.Tokens), s.TokenLogProbSum))
                    .ToList();
            }
        }
        return results;
    }

    /// <summary>
    /// The cache and mask rows of <paramref name="rows"/> (owner, row): rows of one owner index-selected together, owners
    /// concatenated left-padded to the longest, positions no row attends dropped. <c>perm</c>[k] is the index into
    /// <paramref name="rows"/> of batch row k. Tensors in the caller's dispose scope; the cache is the caller's.
    /// </summary>
    (KvCache Cache, Tensor Mask, List<int> Perm) Gather(IReadOnlyList<(SharedStart Owner, int Row)> rows)
    {
        var groups = rows.Select((x, i) => (x, i)).GroupBy(x => x.x.Owner).ToList();
        var perm = new List<int>();
        var caches = new List<KvCache>();
        var masks = new List<Tensor>();
        try
        {
            foreach (var g in groups)
            {
                var members = g.ToList();
                var start = g.Key.Start;
                var idx = tensor(members.Select(m => (long)m.x.Row).ToArray(), device: start.AttentionMask.device);
                caches.Add(start.Cache.IndexSelect(idx));
                masks.Add(start.AttentionMask.index_select(0, idx));
                perm.AddRange(members.Select(m => m.i));
            }
            KvCache cache;
            Tensor mask;
            if (caches.Count == 1)
            {
                cache = caches[0];
                mask = masks[0];
            }
            else
            {
                long length = caches.Max(c => c.Length);
                cache = KvCache.ConcatLeftPadded(caches, length);
                mask = cat(masks.Select(m => LeftPad(m, length)).ToArray(), 0);
                foreach (var c in caches) c.Dispose();
            }
            caches.Clear();
            var (compact, compactMask) = Compact(cache, mask);
            return (compact, compactMask, perm);
        }
        finally
        {
            foreach (var c in caches) c.Dispose();
        }
    }

    /// <summary>Drops the cached positions that every row masks out (takes ownership of <paramref name="cache"/>).</summary>
    static (KvCache Cache, Tensor Mask) Compact(KvCache cache, Tensor mask)
    {
        var alive = HostSync.Read<bool>(mask.ne(0).any(0));
        if (alive.All(a => a)) return (cache, mask);
        var keep = tensor(Enumerable.Range(0, alive.Length).Where(j => alive[j]).Select(j => (long)j).ToArray(), device: mask.device);
        try { return (cache.SelectPositions(keep), mask.index_select(1, keep)); }
        finally { cache.Dispose(); }
    }

    static Tensor LeftPad(Tensor mask, long length)
    {
        long pad = length - mask.shape[1];
        return pad == 0 ? mask : cat([zeros(mask.shape[0], pad, dtype: mask.dtype, device: mask.device), mask], 1);
    }
}
