using Csr.Train.Eval;
using Csr.Train.World;

namespace Csr.Tests.Eval;

public class WorldEvaluatorTests
{
    /// <summary>A fake model that knows every scene: it describes the truth, optionally adds every absent
    /// companion (the language prior at full strength), and answers probes from its own description.</summary>
    private sealed class SceneOracle(SceneGenerator g, IReadOnlyList<Scene> scenes, bool withPrior) : IVisionChatModel
    {
        private readonly Dictionary<string, Scene> _byFile = scenes.ToDictionary(s => s.ImageFileName);
        public int Calls;

        private List<string> Said(Scene s)
        {
            var said = s.Categories.ToList();
            if (withPrior) said.AddRange(s.Categories.Select(c => g.Vocabulary.Companion[c]).Where(c => !s.Contains(c)));
            return said.Distinct().ToList();
        }

        public IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens)
        {
            Calls++;
            return prompts.Select(p =>
            {
                var s = _byFile[Path.GetFileName(p.ImagePath)];
                var said = Said(s);
                if (p.Question.StartsWith("Is there"))
                    return said.Any(c => p.Question.Contains($" {c} ")) ? "Yes, there is." : "No, there is not.";
                return string.Join(" ", said.Select(c => $"There is a red {c}."));
            }).ToList();
        }

        public void Dispose() { }
    }

    [Fact]
    public void OracleScoresPerfectAndPriorHallucinatesExactlyTheAbsentCompanions()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-worldeval-" + Guid.NewGuid().ToString("N"));
        try
        {
            var g = new SceneGenerator(9);
            var ev = new WorldEvaluator(g, dir, 40, statisticsScenes: 500);
            Assert.Equal(40, Directory.GetFiles(Path.Combine(dir, "images"), "*.png").Length);

            var oracle = ev.Evaluate(new SceneOracle(g, ev.Scenes, withPrior: false), 0);
            Assert.Equal(0, oracle.Metrics.ChairS);
            Assert.Equal(0, oracle.Metrics.ChairI);
            foreach (var split in new[] { "random", "popular", "adversarial" })
            {
                Assert.Equal(100, oracle.Metrics.Pope[split].F1, 9);
                Assert.Equal(50, oracle.Metrics.Pope[split].YesRatio, 9);
            }

            var prior = ev.Evaluate(new SceneOracle(g, ev.Scenes, withPrior: true), 1);
            int withAbsentCompanion = ev.Scenes.Count(s => s.Categories.Any(c => !s.Contains(g.Vocabulary.Companion[c])));
            Assert.Equal(100.0 * withAbsentCompanion / ev.Scenes.Count, prior.Metrics.ChairS, 9);
            // Adversarial negatives are the companions: the prior says yes to them; random negatives rarely are.
            Assert.True(prior.Metrics.Pope["adversarial"].Precision < prior.Metrics.Pope["random"].Precision);
            Assert.Equal(100, prior.Metrics.Pope["adversarial"].Recall, 9);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
