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
    /// runs in one group beam search of <paramref name="expander"/>; a finished tree is written at once
    /// (<c>&lt;out&gt;/&lt;id&gt;.json</c>, atomically) and its slot takes the next prompt, so a killed run resumes per prompt.
    /// Records come back in selection order; <paramref name="onPrompt"/> is called as each prompt finishes or is skipped.
    /// </summary>
    /// <param name="prepare">A prompt's ids and pixels, and the answer-token limit its context leaves (null = none).</param>
    public static List<SampledPrompt> RunBatched(
        IReadOnlyList<PromptEntry> selected, string outDir, PromptTemplate template, int batchPrompts,
        Func<PromptEntry, (TreePrompt Prompt, int? MaxAnswerTokens)> prepare, BatchedPrefixCacheExpander expander,
        SentenceTreeSearch search, Action<SampledPrompt>? onPrompt = null, CancellationToken cancel = default)
    {
        if (batchPrompts < 1) throw new ArgumentException($"--batch-prompts {batchPrompts}: must be >= 1");
        using var range = Nvtx.Range("sample");
        Directory.CreateDirectory(outDir);
        var records = new SampledPrompt?[selected.Count];
        var slots = new List<(int Index, PromptEntry Prompt, SentenceTree Tree, Stopwatch Clock)>();
        var run = Stopwatch.StartNew();
        int next = 0, depth = 0, prefills = 0;
        void Done(int index, SampledPrompt rec)
        {
            records[index] = rec;
            onPrompt?.Invoke(rec);
        }
        try
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                // refill the free slots (continuous batching); prompts already written are skipped
                var joining = new List<(int Index, PromptEntry Prompt, TreePrompt Input, int? MaxAnswer)>();
                try
                {
                    while (slots.Count + joining.Count < batchPrompts && next < selected.Count)
                    {
                        var p = selected[next];
                        int index = next++;
                        if (TreeFile.Exists(outDir, p.Id)) { Done(index, new SampledPrompt(p.Id, 0, 0, 0, 0, Skipped: true)); continue; }
                        var (input, maxAnswer) = prepare(p);
                        joining.Add((index, p, input, maxAnswer));
                    }
                    if (joining.Count > 0)
                    {
                        var clock = Stopwatch.StartNew();
                        var forwarded = new long[joining.Count];
                        IReadOnlyList<IDisposable> roots;
                        using (Nvtx.Range("sample prefill", ++prefills))
                        using (Csr.Models.GcQuiet.Enter())
                            roots = expander.StartRoots(joining.Select(j => j.Input).ToList(), forwarded);
                        for (int k = 0; k < joining.Count; k++)
                        {
                            var tree = search.Begin(template.Format(joining[k].Prompt), roots[k], joining[k].MaxAnswer);
                            tree.ForwardedTokens += forwarded[k];
                            slots.Add((joining[k].Index, joining[k].Prompt, tree, clock));
                        }
                    }
                }
                finally
                {
                    foreach (var j in joining) j.Input.Pixels.Dispose();
                }
                if (slots.Count == 0) break;

                // one depth of every tree in the batch
                var parents = slots.SelectMany(s => s.Tree.Active).ToList();
                expander.Throughput.Schedule.Add((slots.Count, selected.Count - next));
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
                    TreeFile.Write(outDir, s.Prompt.Id, s.Tree.Root);
                    slots.Remove(s);
                    expander.Throughput.Prompts++;
                    Done(s.Index, new SampledPrompt(s.Prompt.Id, s.Tree.Root.DescendantsAndSelf().Count(), s.Tree.ActivePerDepth.Count,
                        s.Tree.ForwardedTokens, s.Clock.Elapsed.TotalSeconds, Skipped: false));
                    s.Tree.Dispose();
                }
            }
        }
        finally
        {
            foreach (var s in slots) s.Tree.Dispose();
            expander.Throughput.Seconds += run.Elapsed.TotalSeconds;
        }
        return records.Select(r => r!).ToList();
    }
}
