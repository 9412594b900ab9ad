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
}
