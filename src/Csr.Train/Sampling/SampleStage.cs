using System.Diagnostics;
using Csr.Native.Profiling;
using Csr.Train.Pipeline;

namespace Csr.Train.Sampling;

/// <summary>Per-prompt record of a sample run (one JSONL line each).</summary>
public sealed record SampledPrompt(string Id, int Nodes, int Depth, long ForwardedTokens, double Seconds, bool Skipped);

/// <summary>
/// sample: for each selected prompt (first <c>limit</c>, then every N-th of the shard) build the
/// sentence-level tree and write <c>&lt;out&gt;/&lt;id&gt;.json</c> atomically; prompts whose file
/// exists are skipped, so a killed run resumes where it stopped.
/// </summary>
public static class SampleStage
{
    public static IReadOnlyList<PromptEntry> Select(IReadOnlyList<PromptEntry> prompts, Shard shard, int? limit) =>
        shard.Select(limit is int n ? prompts.Take(n) : prompts).ToList();

    /// <param name="expanderFor">Creates the expander of one prompt (it owns the encoded image / prompt cache).</param>
    /// <param name="onPrompt">Called after each prompt (written or skipped), e.g. for the JSONL log and the progress bar.</param>
    public static List<SampledPrompt> Run(
        IReadOnlyList<PromptEntry> selected, string outDir, PromptTemplate template,
        Func<PromptEntry, ISentenceExpander> expanderFor, SentenceTreeSearch search,
        Action<SampledPrompt>? onPrompt = null, CancellationToken cancel = default)
    {
        using var range = Nvtx.Range("sample");
        Directory.CreateDirectory(outDir);
        var log = new List<SampledPrompt>();
        foreach (var p in selected)
        {
            using var promptRange = Nvtx.Range("sample prompt", log.Count + 1);
            cancel.ThrowIfCancellationRequested();
            SampledPrompt rec;
            if (TreeFile.Exists(outDir, p.Id))
            {
                rec = new SampledPrompt(p.Id, 0, 0, 0, 0, Skipped: true);
            }
            else
            {
                var sw = Stopwatch.StartNew();
                var expander = expanderFor(p);
                try
                {
                    var root = search.Run(template.Format(p), expander);
                    TreeFile.Write(outDir, p.Id, root);
                    rec = new SampledPrompt(p.Id, root.DescendantsAndSelf().Count(), search.ActivePerDepth.Count,
                        expander.ForwardedTokens, sw.Elapsed.TotalSeconds, Skipped: false);
                }
                finally
                {
                    (expander as IDisposable)?.Dispose();
                }
            }
            log.Add(rec);
            onPrompt?.Invoke(rec);
        }
        return log;
    }

    /// <summary>
    /// sample with up to <paramref name="batchPrompts"/> trees advancing together: each depth of every tree in the batch
    /// runs in one group beam search of <paramref name="expander"/>; a finished tree's slot takes the next prompt
    /// (continuous batching), and the tree is written (<c>&lt;out&gt;/&lt;id&gt;.json</c>, atomically) on a writer thread
    /// while decoding goes on, so a killed run resumes per prompt. Prompts join in groups of up to
    /// <paramref name="batchPrompts"/>: a group's images go through the vision tower and its prompts are prefilled in one
    /// forward, the roots the free slots cannot take yet wait for the next ones (one context row each), and the next
    /// group's images are decoded on a worker thread meanwhile. Records come back in selection order;
    /// <paramref name="onPrompt"/> is called as each prompt finishes or is skipped. Every tree is on disk when this returns.
    /// </summary>
    /// <param name="prepare">A prompt's ids (image tokens expanded) and the answer-token limit its context leaves
    /// (null = none); called on the calling thread, when its group is prefilled.</param>
    /// <param name="pixels">A prompt's pixels <c>[3, S, S]</c> in the model dtype; called on a worker thread.</param>
    public static List<SampledPrompt> RunBatched(
        IReadOnlyList<PromptEntry> selected, string outDir, PromptTemplate template, int batchPrompts,
        Func<PromptEntry, (long[] Ids, int? MaxAnswerTokens)> prepare, Func<PromptEntry, TorchSharp.torch.Tensor> pixels,
        BatchedPrefixCacheExpander expander, SentenceTreeSearch search, Action<SampledPrompt>? onPrompt = null,
        CancellationToken cancel = default)
    {
        if (batchPrompts < 1) throw new ArgumentException($"--batch-prompts {batchPrompts}: must be >= 1");
        using var range = Nvtx.Range("sample");
        Directory.CreateDirectory(outDir);
        var records = new SampledPrompt?[selected.Count];
        var slots = new List<(int Index, PromptEntry Prompt, SentenceTree Tree, Stopwatch Clock)>();
        var ready = new Queue<(int Index, PromptEntry Prompt, IDisposable Root, long Forwarded, int? MaxAnswer, Stopwatch Clock)>();
        var writer = new TreeWriter(outDir);
        PixelGroup? upcoming = null;
        var run = Stopwatch.StartNew();
        int next = 0, depth = 0, prefills = 0;
        bool completed = false;
        void Done(int index, SampledPrompt rec)
        {
            records[index] = rec;
            onPrompt?.Invoke(rec);
        }
        void Skip(int index, PromptEntry p) => Done(index, new SampledPrompt(p.Id, 0, 0, 0, 0, Skipped: true));
        // the next group: up to batchPrompts prompts in selection order whose tree is not written yet
        PixelGroup? NextGroup()
        {
            var members = new List<(int Index, PromptEntry Prompt)>();
            while (members.Count < batchPrompts && next < selected.Count)
            {
                var p = selected[next];
                int index = next++;
                if (TreeFile.Exists(outDir, p.Id)) Skip(index, p);
                else members.Add((index, p));
            }
            return members.Count == 0 ? null : PixelGroup.Start(members, pixels);
        }
        try
        {
            upcoming = NextGroup();
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                writer.ThrowIfFailed();
                // refill the free slots (continuous batching); prompts already written are skipped
                while (slots.Count < batchPrompts)
                {
                    if (ready.Count == 0)
                    {
                        if (upcoming is null) break;
                        var group = upcoming;
                        upcoming = null;
                        var px = group.Take();
                        try
                        {
                            var inputs = group.Members.Select(m => prepare(m.Prompt)).ToList();
                            upcoming = NextGroup(); // its images load while this group prefills and the batch decodes
                            var clock = Stopwatch.StartNew();
                            var forwarded = new long[px.Length];
                            IReadOnlyList<IDisposable> roots;
                            using (Nvtx.Range("sample prefill", ++prefills))
                            using (Csr.Models.GcQuiet.Enter())
                                roots = expander.StartRoots(inputs.Select((x, k) => new TreePrompt(x.Ids, px[k])).ToList(), forwarded);
                            for (int k = 0; k < roots.Count; k++)
                                ready.Enqueue((group.Members[k].Index, group.Members[k].Prompt, roots[k], forwarded[k], inputs[k].MaxAnswerTokens, clock));
                        }
                        finally
                        {
                            foreach (var t in px) t.Dispose();
                        }
                    }
                    var r = ready.Dequeue();
                    if (TreeFile.Exists(outDir, r.Prompt.Id)) { r.Root.Dispose(); Skip(r.Index, r.Prompt); continue; } // another worker wrote it
                    var tree = search.Begin(template.Format(r.Prompt), r.Root, r.MaxAnswer);
                    tree.ForwardedTokens += r.Forwarded;
                    slots.Add((r.Index, r.Prompt, tree, r.Clock));
                }
                if (slots.Count == 0) break;

                // one depth of every tree in the batch
                var parents = slots.SelectMany(s => s.Tree.Active).ToList();
                expander.Throughput.Schedule.Add((slots.Count, selected.Count - next + ready.Count + (upcoming?.Members.Count ?? 0)));
                var cost = new long[parents.Count];
                IReadOnlyList<IReadOnlyList<SentenceContinuation>> results;
                using (Nvtx.Range("sample depth", ++depth))
                using (Csr.Models.GcQuiet.Enter())
                    results = expander.Expand(parents, cost);
                int offset = 0;
                foreach (var s in slots)
                {
                    int count = s.Tree.Active.Count;
                    s.Tree.ForwardedTokens += cost.Skip(offset).Take(count).Sum();
                    search.Advance(s.Tree, results.Skip(offset).Take(count).ToList());
                    offset += count;
                }
                foreach (var s in slots.Where(s => s.Tree.Done).ToList())
                {
                    writer.Enqueue(s.Prompt.Id, s.Tree.Root); // a finished tree is plain data: nothing changes it any more
                    slots.Remove(s);
                    expander.Throughput.Prompts++;
                    Done(s.Index, new SampledPrompt(s.Prompt.Id, s.Tree.Root.DescendantsAndSelf().Count(), s.Tree.ActivePerDepth.Count,
                        s.Tree.ForwardedTokens, s.Clock.Elapsed.TotalSeconds, Skipped: false));
                    s.Tree.Dispose();
                }
            }
            writer.Wait();
            completed = true;
        }
        finally
        {
            foreach (var s in slots) s.Tree.Dispose();
            foreach (var r in ready) r.Root.Dispose();
            upcoming?.DisposeQuietly();
            if (!completed) writer.WaitQuietly(); // the trees already finished still land on disk
            expander.Throughput.Seconds += run.Elapsed.TotalSeconds;
        }
        return records.Select(r => r!).ToList();
    }

    /// <summary>Prompts that join the batch together, their pixels loading on a worker thread.</summary>
    sealed class PixelGroup
    {
        public required List<(int Index, PromptEntry Prompt)> Members { get; init; }
        public required Task<TorchSharp.torch.Tensor[]> Pixels { get; init; }

        public static PixelGroup Start(List<(int Index, PromptEntry Prompt)> members, Func<PromptEntry, TorchSharp.torch.Tensor> pixels) => new()
        {
            Members = members,
            Pixels = Task.Run(() =>
            {
                var px = new TorchSharp.torch.Tensor[members.Count];
                try
                {
                    for (int i = 0; i < px.Length; i++) px[i] = pixels(members[i].Prompt);
                    return px;
                }
                catch
                {
                    foreach (var t in px) t?.Dispose();
                    throw;
                }
            }),
        };

        /// <summary>The pixels, the caller's to dispose; an image that failed to load throws here, as it would have inline.</summary>
        public TorchSharp.torch.Tensor[] Take() => Pixels.GetAwaiter().GetResult();

        public void DisposeQuietly()
        {
            try { foreach (var t in Pixels.GetAwaiter().GetResult()) t.Dispose(); }
            catch (Exception) { } // its error belongs to a prompt this run did not reach
        }
    }

    /// <summary>Serialises and writes finished trees in order on one writer thread, so the JSON and the fsync of a tree
    /// file overlap decoding.</summary>
    sealed class TreeWriter(string dir)
    {
        Task _tail = Task.CompletedTask;

        public void Enqueue(string id, TreeNode root)
        {
            var path = TreeFile.PathFor(dir, id);
            var previous = _tail;
            _tail = Task.Run(async () =>
            {
                await previous.ConfigureAwait(false); // a failed write stops the ones after it
                Csr.Models.IO.AtomicFile.WriteAllText(path, TreeFile.Serialize(root));
            });
        }

        /// <summary>Throws the error of a write that failed (full disk, permissions) on the sampling thread.</summary>
        public void ThrowIfFailed()
        {
            if (_tail.IsFaulted) _tail.GetAwaiter().GetResult();
        }

        public void Wait() => _tail.GetAwaiter().GetResult();

        public void WaitQuietly()
        {
            try { _tail.GetAwaiter().GetResult(); }
            catch (Exception) { } // the run already fails with its own error
        }
    }
}
