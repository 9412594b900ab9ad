using System.Text.Json;
using Csr.Train.Cli;
using Csr.Train.Pipeline;

namespace Csr.Tests.Pipeline;

public class ConstructVerbTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Prompts()
    {
        string p = Path.Combine(_dir, "prompts.json");
        File.WriteAllText(p, """[{"id":"7","image":"7.jpg","input":"Describe.\n<image>"},{"id":"8","image":"8.jpg","input":"<image>\nWhat?"}]""");
        return p;
    }

    [Fact]
    public void Construct_ReadsShardDirectories_AndWritesPairsInPromptOrder()
    {
        string a = Path.Combine(_dir, "shard0"), b = Path.Combine(_dir, "shard1"), outFile = Path.Combine(_dir, "prefs.json");
        TreeFile.Write(a, "8", HandTrees.Small());
        TreeFile.Write(b, "7", HandTrees.Small());
        int rc = CliApp.Run(["construct", "--trees", $"{a},{b}", "--prompts", Prompts(), "--out", outFile, "--reward", "paper"]);
        Assert.Equal(0, rc);
        var pairs = PreferenceFile.Read(outFile);
        Assert.Equal(["7", "8"], pairs.Select(p => p.Id));
        Assert.Equal("A cat sits. A dog runs.", pairs[0].Chosen); // paper rule (see CalibratedRewardTests)
        Assert.Equal("<image>\nWhat?", pairs[1].Prompt);
    }

    [Fact]
    public void Construct_UnscoredTree_IsAUserError()
    {
        string a = Path.Combine(_dir, "trees");
        var root = HandTrees.Small();
        root.Children[0].ClipScore = null;
        TreeFile.Write(a, "7", root);
        Assert.Equal(2, CliApp.Run(["construct", "--trees", a, "--prompts", Prompts(), "--out", Path.Combine(_dir, "p.json")]));
        Assert.False(File.Exists(Path.Combine(_dir, "p.json")));
    }
}
