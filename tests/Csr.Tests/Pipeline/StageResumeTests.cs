using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using Csr.Train.Scoring;

namespace Csr.Tests.Pipeline;

public class StageResumeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-stage-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly IReadOnlyList<PromptEntry> Prompts =
        Enumerable.Range(0, 5).Select(i => new PromptEntry($"p{i}", $"img{i}.png", "Describe.\n<image>")).ToList();

    static SentenceTreeSearch Search() => new(new SampleOptions { MaxLength = 200 }, FakeExpander.Decode, FakeExpander.Eos);

    static Dictionary<string, string> Files(string dir) =>
        Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f), File.ReadAllText);

    [Fact]
    public void Sample_KilledPartWayAndRestarted_EqualsUninterrupted()
    {
        string full = Path.Combine(_dir, "full"), resumed = Path.Combine(_dir, "resumed");
        SampleStage.Run(Prompts, full, PromptTemplate.Default, p => new FakeExpander(5, int.Parse(p.Id[1..])), Search());

        int calls = 0;
        Assert.Throws<OperationCanceledException>(() => SampleStage.Run(Prompts, resumed, PromptTemplate.Default, p =>
        {
            if (++calls == 3) throw new OperationCanceledException("killed");
            return new FakeExpander(5, int.Parse(p.Id[1..]));
        }, Search()));
        Assert.Equal(2, Directory.GetFiles(resumed, "*.json").Length);

        var log = SampleStage.Run(Prompts, resumed, PromptTemplate.Default, p => new FakeExpander(5, int.Parse(p.Id[1..])), Search());
        Assert.Equal([true, true, false, false, false], log.Select(r => r.Skipped));
        Assert.Equal(Files(full), Files(resumed));
    }

    [Fact]
    public void Shards_CoverThePromptsOnce()
    {
        var selected = Enumerable.Range(0, 3).SelectMany(k => SampleStage.Select(Prompts, new Shard(k, 3), limit: 4)).Select(p => p.Id).Order();
        Assert.Equal(["p0", "p1", "p2", "p3"], selected);
    }

    sealed class LengthScorer : ISentenceScorer
    {
        public int Calls;
        public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items)
        {
            Calls++;
            return items.Select(i => i.Text.Length + 1000.0 * i.Image).ToArray();
        }
    }

    [Fact]
    public void Score_SetsClipOnEveryNonRootNode_BatchesPrompts_AndSkipsDone()
    {
        string trees = Path.Combine(_dir, "trees"), scored = Path.Combine(_dir, "scored"), imgs = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(imgs);
        foreach (var p in Prompts) File.WriteAllText(Path.Combine(imgs, "X_" + p.Image), "");
        SampleStage.Run(Prompts, trees, PromptTemplate.Default, p => new FakeExpander(5, int.Parse(p.Id[1..])), Search());
        var scorer = new LengthScorer();
        var log = ScoreStage.Run(Prompts, trees, scored, new ImagePathRule(imgs, "X_"), scorer, promptsPerBatch: 2);
        Assert.Equal(3, scorer.Calls);
        foreach (var p in Prompts)
        {
            var root = TreeFile.Read(scored, p.Id);
            Assert.Null(root.ClipScore);
            int idx = int.Parse(p.Id[1..]) % 2;
            Assert.All(root.DescendantsAndSelf().Skip(1), n => Assert.Equal(TreeCleaner.ScoredText(n).Length + 1000.0 * idx, n.ClipScore));
        }
        var again = ScoreStage.Run(Prompts, trees, scored, new ImagePathRule(imgs, "X_"), scorer);
        Assert.All(again, r => Assert.True(r.Skipped));
        Assert.Equal(3, scorer.Calls);
        var result = ConstructStage.Run([scored], Prompts, new ConstructOptions());
        Assert.Equal(5, result.Pairs.Count);
    }
}
