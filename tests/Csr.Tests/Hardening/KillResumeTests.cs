using Csr.Train.Pipeline;

namespace Csr.Tests.Hardening;

/// <summary>
/// Interrupted runs: start a csr-train stage as a child process, SIGKILL it at seeded random points,
/// restart with the same command, and check the final outputs equal an uninterrupted run's and that
/// no half-written file is visible under its final name.
/// </summary>
public class KillResumeTests
{
    static (string prompts, string trees) MakeScoredTrees(string root, int prompts, int seed)
    {
        var rng = new Random(seed);
        string trees = Path.Combine(root, "trees");
        Directory.CreateDirectory(trees);
        var entries = new List<object>();
        for (int p = 0; p < prompts; p++)
        {
            string id = $"p{p:D4}";
            entries.Add(new { id, image = $"{id}.png", input = "<image>\nDescribe this image." });
            var tree = new TreeNode { Text = "USER: <image>\nDescribe this image. ASSISTANT:" };
            Grow(tree, 0, rng);
            TreeFile.Write(trees, id, tree);
        }
        string pf = Path.Combine(root, "prompts.json");
        File.WriteAllText(pf, System.Text.Json.JsonSerializer.Serialize(entries));
        return (pf, trees);
    }

    static void Grow(TreeNode parent, int depth, Random rng)
    {
        int n = depth == 0 ? 5 : 3;
        for (int i = 0; i < n; i++)
        {
            string sentence = $"There is object {rng.Next(1000)} number {i} at depth {depth}.";
            var child = new TreeNode
            {
                Text = parent.Text + " " + sentence, NewText = sentence,
                Score = parent.Score - rng.NextDouble() * 3, ClipScore = 10 + rng.NextDouble() * 20,
                IsFinal = depth == 2 || rng.NextDouble() < 0.2,
            };
            parent.Children.Add(child);
            if (!child.IsFinal && i < 3) Grow(child, depth + 1, rng);
        }
    }

    [Fact]
    public void Construct_killed_at_random_points_then_rerun_writes_the_same_preferences()
    {
        string root = Directory.CreateTempSubdirectory("csr-kill-construct-").FullName;
        try
        {
            var (prompts, trees) = MakeScoredTrees(root, prompts: 400, seed: 7);
            string reference = Path.Combine(root, "ref.json");
            var args = new[] { "construct", "--trees", trees, "--prompts", prompts };
            var full = CliProcess.Run(args.Concat(new[] { "--out", reference }));
            Assert.True(full.ExitCode == 0, full.StdErr + full.StdOut);
            byte[] expected = File.ReadAllBytes(reference);

            var rng = new Random(11);
            int killedRuns = 0;
            for (int trial = 0; trial < 3; trial++)
            {
                string outDir = Path.Combine(root, $"trial{trial}");
                string outFile = Path.Combine(outDir, "prefs.json");
                var delay = TimeSpan.FromMilliseconds(rng.NextDouble() * full.Elapsed.TotalMilliseconds);
                var first = CliProcess.Run(args.Concat(new[] { "--out", outFile }), killAfter: delay);
                if (first.Killed)
                {
                    killedRuns++;
                    // Either nothing under the final name or the complete file: never a prefix of it.
                    if (File.Exists(outFile)) Assert.Equal(expected, File.ReadAllBytes(outFile));
                }
                var second = CliProcess.Run(args.Concat(new[] { "--out", outFile }));
                Assert.True(second.ExitCode == 0, second.StdErr + second.StdOut);
                Assert.Equal(expected, File.ReadAllBytes(outFile));
            }
            Assert.True(killedRuns > 0, "no trial was actually killed: the kill points are all past the end of the run");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void A_user_error_exits_non_zero_with_one_line_naming_the_file_and_no_stack_trace()
    {
        string root = Directory.CreateTempSubdirectory("csr-usererr-").FullName;
        try
        {
            string bad = Path.Combine(root, "prompts.json");
            File.WriteAllText(bad, "[{\"id\": \"a\", \"image\": \"a.png\"}]"); // no "input"
            var r = CliProcess.Run(new[] { "construct", "--trees", root, "--prompts", bad, "--out", Path.Combine(root, "o.json") });
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(bad, r.StdErr);
            Assert.Contains("input", r.StdErr);
            Assert.DoesNotContain("   at ", r.StdErr);
            Assert.False(File.Exists(Path.Combine(root, "o.json")));
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
