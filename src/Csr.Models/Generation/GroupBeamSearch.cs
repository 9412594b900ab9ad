using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>
/// Diverse group beam search with HF semantics (transformers' <c>_group_beam_search</c> + <c>BeamSearchScorer</c> with
/// per-group <c>BeamHypotheses</c> and length normalisation by generated length): beams of all groups and batch rows
/// go through one forward per step; groups pick their tokens in order, each penalised by
/// <c>diversity_penalty x</c> how often earlier groups picked a token at this step (HammingDiversityLogitsProcessor);
/// the penalty stays in the beam score (the unpenalised sum of each beam's token log-probs is tracked alongside and
/// returned as <see cref="BeamSequence.TokenLogProbSum"/>). Stop tokens (HF eos_token_id) end hypotheses; only stop candidates ranked
/// within the group's top group_size count. Starts from a <see cref="GenerationStart"/> (prefill or an existing cache),
/// which it does not modify.
/// </summary>
public static class GroupBeamSearch
{
    public static GroupBeamSearchResult Run(ICausalLm lm, GenerationStart start, GroupBeamSearchOptions options)
    {
        options.Validate();
        int B = (int)start.BatchSize, nb = options.NumBeams, G = options.NumBeamGroups, gs = options.GroupSize;
        int N = B * nb;
        int V = (int)start.NextLogits.shape[1];
        var stop = options.StopTokenIds.ToHashSet();
        long pad = options.PadTokenId ?? (options.StopTokenIds.Count > 0 ? options.StopTokenIds[0] : 0);
        int perBeam = options.CandidatesPerBeam ?? Math.Max(2, 1 + options.StopTokenIds.Count);
        int k = (int)Math.Min((long)perBeam * gs, (long)gs * V);
        // the fused beam step keeps the same perBeam * gs candidates per group (HF's rule for any number of stop ids)
        bool fused = options.StepPath is { } stepPath && stepPath != Csr.Kernels.KernelPath.Reference;
        bool recordReference = options.StepPath == Csr.Kernels.KernelPath.Reference;

        var hyps = Enumerable.Range(0, B * G)
            .Select(_ => new BeamHypotheses(gs, options.LengthPenalty, options.EarlyStopping, options.MaxNewTokens)).ToArray();
        var done = new bool[B * G];
        var beamTokens = Enumerable.Range(0, N).Select(_ => Array.Empty<int>()).ToArray();
        // first beam of each group starts at 0, the others at -1e9 (HF)
        var beamScoresArr = new float[N];
        for (int r = 0; r < N; r++) beamScoresArr[r] = (r % nb) % gs == 0 ? 0f : -1e9f;
        var beamLogProbs = new double[N]; // sum of each beam's own token log-probs (no penalty)

        using var noGrad = torch.no_grad();
        // Host reads per step: one per group (its top-k candidates); uploads: one per later group (the diversity counts)
        // and one packed [scores, reorder, tokens] for the next step. None scales with the number of beams or rows.
        var device = start.NextLogits.device;
        var expand = torch.tensor(Enumerable.Range(0, N).Select(r => (long)(r / nb)).ToArray(), device: device);
        var cache = options.SharePrefix && nb > 1 && !start.Cache.IsEmpty
            ? KvCache.OverSharedPrefix(start.Cache, nb)   // [N] rows over the [B] context rows; beams store only their tokens
            : start.Cache.IndexSelect(expand);
        Tensor mask = start.AttentionMask.index_select(0, expand).DetachFromDisposeScope();
        Tensor logits = start.NextLogits.index_select(0, expand).DetachFromDisposeScope();
        expand.Dispose();
        // rows of each group in [N], on the device once
        var groupRows = new Tensor[G];
        for (int g = 0; g < G; g++)
        {
            var rowsArr = new long[B * gs];
            for (int b = 0; b < B; b++)
                for (int j = 0; j < gs; j++) rowsArr[b * gs + j] = b * nb + g * gs + j;
            groupRows[g] = torch.tensor(rowsArr, device: device).DetachFromDisposeScope();
        }
        Tensor beamScoresDev = HostSync.Upload(beamScoresArr, device).DetachFromDisposeScope(); // [N]
        int step = 0;
        // Batch items still searching, in order. The cache and mask hold only their rows (nb each): the rows of an item
        // whose groups are all done are dropped from the forward instead of decoding padding until the last item ends
        // (HF keeps them). logits stays [N, V]; a finished item's rows keep stale values that nothing reads.
        int[] live = Enumerable.Range(0, B).ToArray();
        long decodeRows = 0;
        var itemSteps = new int[B]; // selection steps each item took part in (Steps for one that searched to the end)
        bool ItemDone(int b)
        {
            for (int g = 0; g < G; g++) if (!done[b * G + g]) return false;
            return true;
        }
        try
        {
            while (true)
            {
                var currentTokens = new long[N];
                var reorder = new long[N];
                var newScores = new float[N];
                var newLogProbs = new double[N];
                var newTokens = new int[N][];
                using (var scope = torch.NewDisposeScope())
                {
                    Csr.Kernels.BeamStepRows[]? prepared = null;
                    Tensor? logp = null;
                    long stepStart = System.Diagnostics.Stopwatch.GetTimestamp();
                    if (fused)
                    {
                        prepared = new Csr.Kernels.BeamStepRows[B];
                        for (int b = 0; b < B; b++)
                            if (!ItemDone(b)) prepared[b] = Csr.Kernels.BeamStep.Prepare(logits.narrow(0, (long)b * nb, nb), G, options.StepPath!.Value, perBeam);
                    }
                    else
                    {
                        // float64 log-softmax rounded to float32: the correctly rounded log-probs, as the fused step computes them
                        logp = logits.to_type(ScalarType.Float64).log_softmax(-1).to_type(ScalarType.Float32); // [N, V] fp32
                    }
                    for (int g = 0; g < G; g++)
                    {
                        float[] vals, tokenLp; // candidate scores (penalised, with the beam score) and the tokens' own log-probs
                        long[] idx;
                        if (fused)
                        {
                            // candidates [B, k] from the fused step: flat = parent * V + token, as topk over [B, gs*V]
                            vals = new float[B * k];
                            tokenLp = new float[B * k];
                            idx = new long[B * k];
                            for (int b = 0; b < B; b++)
                            {
                                if (prepared![b] is null) continue; // a finished item: its group is done, nothing reads these
                                var (tok, par, sc) = prepared![b].SelectGroup(g, beamScoresArr.AsSpan(b * nb + g * gs, gs),
                                    currentTokens.AsSpan(b * nb, g * gs), options.DiversityPenalty);
                                for (int j = 0; j < k; j++)
                                {
                                    vals[b * k + j] = sc[j];
                                    idx[b * k + j] = par[j] * V + tok[j];
                                    tokenLp[b * k + j] = prepared[b].LogProb(g * gs + par[j], (int)tok[j]);
                                }
                            }
                        }
                        else
                        {
                            var rows = groupRows[g];
                            var plain = logp!.index_select(0, rows);                     // [B*gs, V]
                            var processed = plain;
                            if (g > 0 && options.DiversityPenalty != 0)
                                processed = processed - options.DiversityPenalty * TokenFrequency(currentTokens, B, nb, g * gs, gs, V, device);
                            var total = (processed + beamScoresDev.index_select(0, rows).unsqueeze(1)).view(B, gs * V);
                            var (topVals, topIdx) = total.topk(k, 1, largest: true, sorted: true); // [B, k]
                            var plainFlat = plain.view(B, gs * V);
                            var plainLp = plainFlat.gather(1, topIdx);                     // [B, k] own log-probs, no penalty
                            // how many scores in each row equal its k-th best: more than topk kept means a tie at the cut
                            var atCut = total.eq(topVals.narrow(1, k - 1, 1)).sum(1);      // [B]
                            // one host read for all four: fp32 values and indices < 2^53 are exact in fp64
                            var all = HostSync.Read<double>(torch.cat(new[]
                            {
                                topVals.to_type(ScalarType.Float64).view(-1), topIdx.to_type(ScalarType.Float64).view(-1),
                                plainLp.to_type(ScalarType.Float64).view(-1), atCut.to_type(ScalarType.Float64),
                            }));
                            vals = new float[B * k];
                            idx = new long[B * k];
                            tokenLp = new float[B * k];
                            for (int q = 0; q < B * k; q++)
                            {
                                vals[q] = (float)all[q]; idx[q] = (long)all[B * k + q]; tokenLp[q] = (float)all[2 * B * k + q];
                            }
                            for (int b = 0; b < B; b++)
                                OrderTies(b, k, vals, idx, tokenLp, (long)all[3 * B * k + b], total, plainFlat);
                        }
                        for (int b = 0; b < B; b++)
                        {
                            int bg = b * G + g, groupRow0 = b * nb + g * gs;
                            if (done[bg])
                            {
                                for (int j = 0; j < gs; j++)
                                {
                                    newScores[groupRow0 + j] = 0f;
                                    newLogProbs[groupRow0 + j] = 0;
                                    newTokens[groupRow0 + j] = beamTokens[groupRow0].Append((int)pad).ToArray();
                                    currentTokens[groupRow0 + j] = pad;
                                    reorder[groupRow0 + j] = groupRow0;
                                }
                                continue;
                            }
                            int filled = 0;
                            for (int rank = 0; rank < k; rank++)
                            {
                                long flat = idx[b * k + rank];
                                int token = (int)(flat % V);
                                int src = groupRow0 + (int)(flat / V);
                                float score = vals[b * k + rank];
                                double sumLp = beamLogProbs[src] + tokenLp[b * k + rank];
                                if (stop.Contains(token))
                                {
                                    if (rank >= gs) continue;
                                    hyps[bg].Add(beamTokens[src].Append(token).ToArray(), score, step + 1, stopped: true, sumLp);
                                }
                                else
                                {
                                    int dst = groupRow0 + filled;
                                    newScores[dst] = score;
                                    newLogProbs[dst] = sumLp;
                                    newTokens[dst] = beamTokens[src].Append(token).ToArray();
                                    currentTokens[dst] = token;
                                    reorder[dst] = src;
                                    filled++;
                                }
                                if (filled == gs) break;
                            }
                            if (filled < gs)
                                throw new InvalidOperationException($"group beam search: fewer than {gs} non-stop candidates among the top {k} (batch {b}, group {g})");
                            done[bg] = done[bg] || hyps[bg].IsDone(vals[b * k], step + 1);
                        }
                    }
                    if (prepared is not null) foreach (var p in prepared) p?.Dispose();
                    if (recordReference) // the composed ops are the beam step's reference path: one call per batch row
                        Csr.Kernels.KernelStats.Record(Csr.Kernels.BeamStep.OpName, Csr.Kernels.KernelPath.Reference,
                            System.Diagnostics.Stopwatch.GetElapsedTime(stepStart).TotalSeconds, calls: B);
                }
                beamScoresArr = newScores;
                beamLogProbs = newLogProbs;
                beamTokens = newTokens;
                step++;
                foreach (var b in live) itemSteps[b]++;
                if (done.All(d => d) || step >= options.MaxNewTokens) break;

                // one forward for every beam of the items still searching
                using (var scope = torch.NewDisposeScope())
                {
                    var next = live.Where(b => !ItemDone(b)).ToArray();
                    var posInLive = new int[B];
                    for (int i = 0; i < live.Length; i++) posInLive[live[i]] = i;
                    int rowsNext = next.Length * nb;
                    // each next row's source among the cache's current rows (the beam it continues; always of its own item)
                    var source = new long[rowsNext];
                    var fullRow = new long[rowsNext];
                    bool identity = next.Length == live.Length;
                    for (int i = 0; i < next.Length; i++)
                        for (int j = 0; j < nb; j++)
                        {
                            int b = next[i], r = b * nb + j;
                            source[i * nb + j] = (long)posInLive[b] * nb + (reorder[r] - b * nb);
                            fullRow[i * nb + j] = r;
                            if (source[i * nb + j] != i * nb + j) identity = false;
                        }
                    // one upload: next step's beam scores, the rows' sources, the fed tokens and the rows' places in [N] (exact in fp64)
                    var packed = new double[N + 3 * rowsNext];
                    for (int r = 0; r < N; r++) packed[r] = beamScoresArr[r];
                    for (int q = 0; q < rowsNext; q++)
                    {
                        packed[N + q] = source[q];
                        packed[N + rowsNext + q] = currentTokens[fullRow[q]];
                        packed[N + 2 * rowsNext + q] = fullRow[q];
                    }
                    var packedDev = HostSync.Upload(packed, device);
                    beamScoresDev.Dispose();
                    beamScoresDev = packedDev.narrow(0, 0, N).to_type(ScalarType.Float32).DetachFromDisposeScope();
                    var sourceDev = packedDev.narrow(0, N, rowsNext).to_type(ScalarType.Int64);
                    if (!identity)
                    {
                        // over a shared prefix, the items that go on keep reading their own prefix rows (item b: row b)
                        var reordered = next.Length < live.Length && cache.SharedPrefix is not null
                            ? cache.ReorderRows(sourceDev, next.Select(b => (long)b).ToArray())
                            : cache.ReorderRows(sourceDev);
                        cache.Dispose();
                        cache = reordered;
                    }
                    // a row's mask is its item's context mask plus the generated positions: the same for all its beams
                    var rowMask = next.Length == live.Length ? mask : mask.index_select(0, sourceDev);
                    var newMask = torch.cat(new[] { rowMask, torch.ones(rowsNext, 1, dtype: ScalarType.Int64, device: device) }, 1);
                    var ids = packedDev.narrow(0, N + rowsNext, rowsNext).to_type(ScalarType.Int64).reshape(rowsNext, 1);
                    var newLogits = GenerationStart.LastLogits(lm, lm.Embed(ids), newMask, cache); // [rowsNext, V]
                    decodeRows += rowsNext;
                    mask.Dispose();
                    mask = newMask.DetachFromDisposeScope();
                    if (next.Length == B)
                    {
                        logits.Dispose();
                        logits = newLogits.DetachFromDisposeScope();
                    }
                    else
                    {
                        var rowsDev = packedDev.narrow(0, N + 2 * rowsNext, rowsNext).to_type(ScalarType.Int64);
                        logits.index_copy_(0, rowsDev, newLogits.to_type(logits.dtype));
                    }
                    live = next;
                }
            }

            // finalize: open beams of groups that are not done join their group's hypotheses
            for (int bg = 0; bg < B * G; bg++)
            {
                if (done[bg]) continue;
                int b = bg / G, g = bg % G;
                for (int j = 0; j < gs; j++)
                {
                    int row = b * nb + g * gs + j;
                    hyps[bg].Add(beamTokens[row], beamScoresArr[row], beamTokens[row].Length, stopped: false, beamLogProbs[row]);
                }
            }
            int R = options.ReturnCount;
            var result = new BeamSequence[B][];
            for (int b = 0; b < B; b++)
            {
                // candidates of all groups in group order; stable ascending sort; take from the end (Python sorted + pop)
                var candidates = Enumerable.Range(0, G).SelectMany(g => hyps[b * G + g].Beams).ToList();
                var sorted = candidates.Select((c, i) => (c, i)).OrderBy(x => x.c.Score).ThenBy(x => x.i).Select(x => x.c).ToList();
                result[b] = new BeamSequence[R];
                for (int r = 0; r < R; r++)
                {
                    var best = sorted[^1];
                    sorted.RemoveAt(sorted.Count - 1);
                    result[b][r] = new BeamSequence(best.Tokens, best.Score, best.Stopped, best.TokenLogProbSum);
                }
            }
            if (!options.ReturnCaches) return new GroupBeamSearchResult(result, step) { DecodeRows = decodeRows, ItemSteps = itemSteps };
            var withCaches = BuildCaches(lm, start, result, pad, step);
            withCaches.DecodeRows = decodeRows;
            withCaches.ItemSteps = itemSteps;
            return withCaches;
        }
        finally
        {
            cache.Dispose();
            mask.Dispose();
            logits.Dispose();
            beamScoresDev.Dispose();
            foreach (var r in groupRows) r.Dispose();
        }
    }

    /// <summary>
    /// Puts row <paramref name="b"/>'s <paramref name="k"/> candidates in the op library's order (score descending,
    /// flat index ascending on ties), which <c>topk</c> leaves unspecified: equal scores inside the kept set are
    /// sorted by index, and when more scores equal the k-th best than topk kept (<paramref name="atCut"/>), the
    /// lowest indices among them are kept. Ties are rare in fp32 and common in bf16, whose logits take few values.
    /// </summary>
    static void OrderTies(int b, int k, float[] vals, long[] idx, float[] tokenLp, long atCut, Tensor total, Tensor plainFlat)
    {
        int o = b * k;
        float cut = vals[o + k - 1];
        int keptAtCut = 0;
        for (int j = 0; j < k; j++) if (vals[o + j] == cut) keptAtCut++;
        if (atCut > keptAtCut)
        {
            // the cut's ties: the lowest indices of all scores equal to it fill the slots topk gave them
            // rows are indexed only here (rare): a row view per batch row and group costs a native call each
            var eqIdx = total[b].eq(cut).nonzero().view(-1).narrow(0, 0, keptAtCut);
            var lowest = HostSync.Read<long>(eqIdx);
            var lp = HostSync.Read<float>(plainFlat[b].index_select(0, eqIdx));
            for (int j = 0, t = 0; j < k; j++)
                if (vals[o + j] == cut) { idx[o + j] = lowest[t]; tokenLp[o + j] = lp[t]; t++; }
        }
        // topk sorts by score; order each run of equal scores by index
        for (int j = 1; j < k; j++)
        {
            int m = j;
            while (m > 0 && vals[o + m - 1] == vals[o + m] && idx[o + m - 1] > idx[o + m])
            {
                (idx[o + m - 1], idx[o + m]) = (idx[o + m], idx[o + m - 1]);
                (tokenLp[o + m - 1], tokenLp[o + m]) = (tokenLp[o + m], tokenLp[o + m - 1]);
                m--;
            }
        }
    }

    /// <summary>[B*gs, V] counts of tokens picked at this step by the earlier groups of the same batch row.</summary>
    private static Tensor TokenFrequency(long[] currentTokens, int B, int nb, int previousBeams, int gs, int V, Device device)
    {
        // counts built on the device from the picked ids: one small upload instead of a [B, V] host table
        var at = new long[B * previousBeams];
        for (int b = 0; b < B; b++)
            for (int r = 0; r < previousBeams; r++) at[b * previousBeams + r] = (long)b * V + currentTokens[b * nb + r];
        var idxT = HostSync.Upload(at, device);
        var t = torch.zeros(B * (long)V, dtype: ScalarType.Float32, device: device)
            .index_add_(0, idxT, torch.ones(at.Length, dtype: ScalarType.Float32, device: device), 1).reshape(B, V);
        return gs == 1 ? t : t.repeat_interleave(gs, 0);
    }

    /// <summary>Recomputes, for every returned beam, the cache of context + tokens[..^1] in one batched forward.</summary>
    private static GroupBeamSearchResult BuildCaches(ICausalLm lm, GenerationStart start, BeamSequence[][] seqs, long pad, int steps)
    {
        int B = seqs.Length, R = seqs[0].Length, n = B * R;
        int maxFed = seqs.SelectMany(s => s).Max(s => s.Tokens.Length) - 1;
        using var scope = torch.NewDisposeScope();
        var device = start.AttentionMask.device;
        var rows = torch.tensor(Enumerable.Range(0, n).Select(i => (long)(i / R)).ToArray(), device: device);
        var cache = start.Cache.IndexSelect(rows);
        try
        {
            var ctxMask = start.AttentionMask.index_select(0, rows);
            var pending = new long[n];
            Tensor mask = ctxMask;
            if (maxFed > 0)
            {
                var ids = new long[n * maxFed];
                var m = new long[n * maxFed];
                for (int i = 0; i < n; i++)
                {
                    var t = seqs[i / R][i % R].Tokens;
                    for (int j = 0; j < maxFed; j++)
                    {
                        bool real = j < t.Length - 1;
                        ids[i * maxFed + j] = real ? t[j] : pad;
                        m[i * maxFed + j] = real ? 1 : 0;
                    }
                }
                mask = torch.cat(new[] { ctxMask, torch.tensor(m, device: device).reshape(n, maxFed) }, 1);
                lm.ForwardHidden(lm.Embed(torch.tensor(ids, device: device).reshape(n, maxFed)), mask, cache);
            }
            for (int i = 0; i < n; i++) pending[i] = seqs[i / R][i % R].Tokens[^1];
            return new GroupBeamSearchResult(seqs, steps, cache, mask.MoveToOuterDisposeScope(), torch.tensor(pending, device: device).MoveToOuterDisposeScope());
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }
}
