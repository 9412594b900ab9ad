using Csr.Train.Pipeline;
using Csr.Train.Sampling;

namespace Csr.Tests.Pipeline;

/// <summary>The tiny model, its prompts and their one-prompt trees (with and without the fused beam step), built once.</summary>
public sealed class OnePromptTrees : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("csr-batched-").FullName;
    readonly Dictionary<(bool Fused, string Prompts), (string Dir, List<SampledPrompt> Records)> _trees = new();

    public Csr.Train.Models.VisionLanguageModel Model { get; } = TinyLlava.Create();

    public (string Dir, List<SampledPrompt> Records) For(IReadOnlyList<PromptEntry> prompts, SampleStageOptions o)
    {
        lock (_trees)
        {
            var key = (o.Sample.Fused, string.Join(",", prompts.Select(p => p.Id)));
            if (!_trees.TryGetValue(key, out var r))
            {
                string dir = Path.Combine(Dir, (o.Sample.Fused ? "one-fused-" : "one-") + prompts.Count);
                r = (dir, SampleRunner.RunPerPrompt(Model, prompts, dir, o));
                _trees[key] = r;
            }
            return r;
        }
    }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(Dir, true);
    }
}

/// <summary>Trees of prompts sampled together (continuous batching across prompts) against the trees of each prompt alone.</summary>
public class BatchedSamplerTests(OnePromptTrees fixture) : IClassFixture<OnePromptTrees>
{
    readonly string _dir = fixture.Dir;

    static readonly string[] Questions = ["describe it.", "what is here?", "tell me all.", "say what you see here, please.", "go."];

    /// <summary>Prompts of different prefix lengths (the question varies, the image token sits before or after it).</summary>
    List<PromptEntry> Prompts(int n)
    {
        string images = Path.Combine(_dir, "img");
        Directory.CreateDirectory(images);
        var list = new List<PromptEntry>();
        for (int i = 0; i < n; i++)
        {
            TinyLlava.WriteImage(Path.Combine(images, $"img{i}.png"), i);
            string q = Questions[i % Questions.Length];
            list.Add(new PromptEntry($"q{i}", $"img{i}.png", i % 2 == 0 ? q + "\n<image>" : "<image>\n" + q));
        }
        return list;
    }

    static SampleOptions Small(int? batchPrompts, bool fused) => new()
    {
        MaxNewTokens = 5, MaxLength = 60, SentenceEndId = CharTokenizer.Period, BatchPrompts = batchPrompts, Fused = fused,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void An_answer_cap_ends_every_path_once_its_answer_reaches_the_cap(int batchPrompts)
    {
        const int cap = 6;
        var prompts = Prompts(6);
        var (one, _) = fixture.For(prompts, Stage(1, false));
        var o = Stage(batchPrompts, false);
        o = o with { Sample = o.Sample with { MaxAnswerTokens = cap } };
        string dir = Path.Combine(_dir, $"capped-{batchPrompts}");
        SampleRunner.Run(fixture.Model, prompts, dir, o);
        bool cut = false;
        foreach (var p in prompts)
        {
            var uncapped = TreeFile.Read(one, p.Id);
            var capped = TreeFile.Read(dir, p.Id);
            // answer tokens of every node: the sum of its path's sentence tokens
            void Walk(TreeNode n, int tokens, bool root)
            {
                int answer = root ? 0 : tokens + n.NumTokens!.Value;
                if (answer >= cap) Assert.True(n.IsFinal, $"{p.Id}: a node of {answer} answer tokens (cap {cap}) is not final");
                if (n.Children.Count > 0) Assert.True(answer < cap, $"{p.Id}: a node of {answer} answer tokens has children");
                foreach (var c in n.Children) Walk(c, answer, false);
            }
            Walk(capped, 0, true);
            static int MaxAnswer(TreeNode n, int tokens, bool root) =>
                n.Children.Count == 0 ? (root ? 0 : tokens + n.NumTokens!.Value)
                    : n.Children.Max(c => MaxAnswer(c, root ? 0 : tokens + n.NumTokens!.Value, false));
            if (MaxAnswer(uncapped, 0, true) >= cap + 1 && MaxAnswer(capped, 0, true) < MaxAnswer(uncapped, 0, true)) cut = true;
        }
        Assert.True(cut, "no uncapped tree had a path beyond the cap: the test would not see the cap work");
    }

    SampleStageOptions Stage(int? batchPrompts, bool fused) =>
        new(Small(batchPrompts, fused), TinyLlava.Template, new ImagePathRule(Path.Combine(_dir, "img")), Shard.All);

    static void AssertSameTree(TreeNode expected, TreeNode actual, string id)
    {
        var e = expected.DescendantsAndSelf().ToList();
        var a = actual.DescendantsAndSelf().ToList();
        Assert.True(e.Count == a.Count, $"{id}: {a.Count} nodes, one-prompt tree has {e.Count}");
        for (int i = 0; i < e.Count; i++)
        {
            Assert.True(e[i].Text == a[i].Text, $"{id} node {i}: '{a[i].Text}' vs '{e[i].Text}'");
            Assert.Equal(e[i].IsFinal, a[i].IsFinal);
            Assert.Equal(e[i].NumTokens, a[i].NumTokens);
            Assert.True(Math.Abs(e[i].Score - a[i].Score) <= 1e-4, $"{id} node {i}: score {a[i].Score} vs {e[i].Score}");
            if (i > 0) Assert.True(Math.Abs(e[i].TokenLogProbSum!.Value - a[i].TokenLogProbSum!.Value) <= 1e-4, $"{id} node {i}: log-prob sum");
        }
    }

    /// <summary>Search rounds continuous batching takes: slots filled in prompt order, each round advances every tree one
    /// depth, a finished tree's slot takes the next prompt before the next round.</summary>
    static int Rounds(IReadOnlyList<int> depths, int slots)
    {
        var left = new List<int>();
        int next = 0, rounds = 0;
        while (true)
        {
            while (left.Count < slots && next < depths.Count) left.Add(depths[next++]);
            if (left.Count == 0) return rounds;
            rounds++;
            left = left.Select(d => d - 1).Where(d => d > 0).ToList();
        }
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    public void BatchedTrees_EqualOnePromptTrees(int batchPrompts, bool fused)
    {
        var prompts = Prompts(6);
        var vlm = fixture.Model;
        var (one, reference) = fixture.For(prompts, Stage(1, fused));
        string batched = Path.Combine(_dir, $"batched-{batchPrompts}-{fused}");
        var throughput = new SampleThroughput();
        var records = SampleRunner.Run(vlm, prompts, batched, Stage(batchPrompts, fused), throughput: throughput);

        Assert.Equal(prompts.Select(p => p.Id), records.Select(r => r.Id));
        Assert.Contains(reference, r => r.Depth > 1);
        Assert.True(reference.Select(r => r.Depth).Distinct().Count() > 1, "prompts whose trees all have one depth cannot test slot refill");
        for (int i = 0; i < prompts.Count; i++)
        {
            AssertSameTree(TreeFile.Read(one, prompts[i].Id), TreeFile.Read(batched, prompts[i].Id), prompts[i].Id);
            Assert.Equal(reference[i].Depth, records[i].Depth);
            Assert.Equal(reference[i].Nodes, records[i].Nodes);
        }
        // a finished tree's slot takes the next prompt at once: the batch is full while prompts wait, and there is one
        // search per round of the simulated schedule
        Assert.All(throughput.Schedule, s => Assert.True(s.Waiting == 0 || s.Trees == batchPrompts, $"{s.Trees} trees while {s.Waiting} prompts wait"));
        Assert.Contains(throughput.Schedule, s => s.Trees == Math.Min(batchPrompts, prompts.Count));
        Assert.Equal(Rounds(reference.Select(r => r.Depth).ToList(), batchPrompts), throughput.Searches);
        Assert.Equal(prompts.Count, throughput.Prompts);
        Assert.Equal(prompts.Count, throughput.PrefillPrompts);
        // prompts join in groups of batchPrompts, one vision-tower batch and prefill each, even where a slot frees alone
        Assert.Equal((prompts.Count + batchPrompts - 1) / batchPrompts, throughput.Prefills);
        if (batchPrompts == 1)
            Assert.Equal(reference.Sum(r => r.ForwardedTokens), records.Sum(r => r.ForwardedTokens));
        else
            Assert.True(throughput.Searches < reference.Sum(r => r.Depth), $"{throughput.Searches} searches for {reference.Sum(r => r.Depth)} depths");
    }

    [Fact]
    public void An_image_that_fails_to_load_on_the_worker_thread_stops_the_run_with_its_error_and_keeps_the_finished_trees()
    {
        var prompts = Prompts(6);
        var vlm = fixture.Model;
        var (full, _) = fixture.For(prompts, Stage(1, fused: false));
        string dir = Path.Combine(_dir, "missing-image");
        // the third group's images load while the second decodes; one of them is not there
        var broken = prompts.Select(p => p.Id == "q4" ? p with { Image = "gone.png" } : p).ToList();
        var ex = Assert.Throws<FileNotFoundException>(() => SampleRunner.Run(vlm, broken, dir, Stage(2, fused: false)));
        Assert.Contains("prompt q4", ex.Message);
        Assert.Contains("gone.png", ex.Message);
        var written = prompts.Where(p => TreeFile.Exists(dir, p.Id)).ToList();
        Assert.NotEmpty(written);
        Assert.DoesNotContain(written, p => p.Id is "q4" or "q5");
        foreach (var p in written) AssertSameTree(TreeFile.Read(full, p.Id), TreeFile.Read(dir, p.Id), p.Id);
        // with the image back the rerun builds only the others
        var records = SampleRunner.Run(vlm, prompts, dir, Stage(2, fused: false));
        Assert.Equal(written.Count, records.Count(r => r.Skipped));
        foreach (var p in prompts) AssertSameTree(TreeFile.Read(full, p.Id), TreeFile.Read(dir, p.Id), p.Id);
    }

    [Fact]
    public void BatchedRun_SkipsWrittenTrees_AndWritesTheRest()
    {
        var prompts = Prompts(6);
        var vlm = fixture.Model;
        var (full, _) = fixture.For(prompts, Stage(1, fused: false));
        string resumed = Path.Combine(_dir, "resumed");
        // a run that stopped after two trees: those files stay, the rerun builds only the others
        Directory.CreateDirectory(resumed);
        foreach (var id in new[] { "q1", "q3" }) File.Copy(TreeFile.PathFor(full, id), TreeFile.PathFor(resumed, id));
        var throughput = new SampleThroughput();
        var records = SampleRunner.Run(vlm, prompts, resumed, Stage(2, fused: false), throughput: throughput);
        Assert.Equal(new[] { false, true, false, true, false, false }, records.Select(r => r.Skipped));
        Assert.Equal(4, throughput.Prompts);
        foreach (var p in prompts) AssertSameTree(TreeFile.Read(full, p.Id), TreeFile.Read(resumed, p.Id), p.Id);
    }
}
