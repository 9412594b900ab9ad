using Csr.Native.Profiling;
using Csr.Train.Pipeline;

namespace Csr.Train.Scoring;

/// <summary>Per-prompt record of a score run.</summary>
public sealed record ScoredPrompt(string Id, int Scored, int Cleaned, bool Skipped, bool MissingTree);

/// <summary>
/// score: read each selected prompt's tree, drop the nodes the official clean_tree drops, set every
/// non-root node's clip_score (CLIP logits_per_image of its cleaned new sentence vs the image), write the
/// scored tree to <c>&lt;out&gt;/&lt;id&gt;.json</c> atomically. The nodes of <c>promptsPerBatch</c>
/// prompts go to the scorer as one batch. Existing outputs are skipped.
/// </summary>
public static class ScoreStage
{
    public static List<ScoredPrompt> Run(
        IReadOnlyList<PromptEntry> selected, string treesDir, string outDir, ImagePathRule images,
        ISentenceScorer scorer, int promptsPerBatch = 8, Action<ScoredPrompt>? onPrompt = null)
    {
        using var range = Nvtx.Range("score");
        if (promptsPerBatch < 1) throw new ArgumentException("promptsPerBatch must be >= 1");
        Directory.CreateDirectory(outDir);
        Csr.Kernels.KernelStats.Reset();
        try { return RunStage(selected, treesDir, outDir, images, scorer, promptsPerBatch, onPrompt); }
        finally { Csr.Kernels.KernelStats.Snapshot().Write(outDir); } // the ops the scorer ran: kernels.json
    }

    static List<ScoredPrompt> RunStage(
        IReadOnlyList<PromptEntry> selected, string treesDir, string outDir, ImagePathRule images,
        ISentenceScorer scorer, int promptsPerBatch, Action<ScoredPrompt>? onPrompt)
    {
        var log = new List<ScoredPrompt>();
        void Emit(ScoredPrompt r) { log.Add(r); onPrompt?.Invoke(r); }

        var pending = new List<(PromptEntry Prompt, TreeNode Root, int Cleaned)>();
        int batches = 0;
        foreach (var p in selected)
        {
            if (TreeFile.Exists(outDir, p.Id)) { Emit(new(p.Id, 0, 0, Skipped: true, MissingTree: false)); continue; }
            if (!TreeFile.Exists(treesDir, p.Id)) { Emit(new(p.Id, 0, 0, Skipped: false, MissingTree: true)); continue; }
            var root = TreeFile.Read(treesDir, p.Id);
            int cleaned = TreeCleaner.Clean(root);
            pending.Add((p, root, cleaned));
            if (pending.Count == promptsPerBatch) Flush();
        }
        Flush();
        return log;

        void Flush()
        {
            if (pending.Count == 0) return;
            using var batchRange = Nvtx.Range("score batch", ++batches);
            var paths = pending.Select(x => images.ResolveExisting(x.Prompt)).ToList();
            var nodes = new List<TreeNode>();
            var items = new List<ScoreItem>();
            for (int i = 0; i < pending.Count; i++)
                foreach (var n in pending[i].Root.DescendantsAndSelf().Skip(1))
                {
                    nodes.Add(n);
                    items.Add(new ScoreItem(i, TreeCleaner.ScoredText(n)));
                }
            double[] scores;
            using (Csr.Models.GcQuiet.Enter()) scores = items.Count > 0 ? scorer.Score(paths, items) : [];
            if (scores.Length != items.Count)
                throw new InvalidOperationException($"scorer returned {scores.Length} scores for {items.Count} sentences");
            for (int k = 0; k < nodes.Count; k++) nodes[k].ClipScore = scores[k];
            for (int i = 0; i < pending.Count; i++)
            {
                var (p, root, cleaned) = pending[i];
                TreeFile.Write(outDir, p.Id, root);
                Emit(new(p.Id, items.Count(it => it.Image == i), cleaned, Skipped: false, MissingTree: false));
            }
            pending.Clear();
        }
    }
}
