using System.Text.Json;
using Csr.Train.Pipeline;

namespace Csr.Tests.Pipeline;

public class PromptFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-prompts-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Write(string json)
    {
        string p = Path.Combine(_dir, "prompts.json");
        File.WriteAllText(p, json);
        return p;
    }

    [Fact]
    public void Reads_Ids_Images_AndStripsTheMarker()
    {
        var list = PromptFile.Read(Write("""[{"id":"000000442786","image":"000000442786.jpg","input":"What do you see?\n<image>"},{"id":5,"image":"b.jpg","input":"<image>\nQ2"}]"""));
        Assert.Equal(2, list.Count);
        Assert.Equal("000000442786", list[0].Id);
        Assert.Equal("What do you see?", list[0].Question);
        Assert.Equal("<image>\nWhat do you see?", list[0].HumanTurn);
        Assert.Equal("5", list[1].Id);
    }

    [Theory]
    [InlineData("""[{"id":"1","image":"a.jpg","input":"x <image>"},""", "malformed JSON")]
    [InlineData("""[{"id":"1","input":"x <image>"}]""", "entry 0 (id 1): missing field \"image\"")]
    [InlineData("""[{"image":"a","input":"x <image>"}]""", "entry 0: missing field \"id\"")]
    [InlineData("""[{"id":"1","image":"a.jpg","input":"<image> x"},{"id":"1","image":"b.jpg","input":"<image> y"}]""", "entry 1: duplicate id \"1\" (first at entry 0)")]
    [InlineData("""[{"id":"1","image":"a.jpg","input":"no marker"}]""", "has no <image> marker")]
    [InlineData("""{"id":"1"}""", "expected a JSON array")]
    public void Errors_NameFileAndEntry(string json, string expected)
    {
        string p = Write(json);
        var ex = Assert.Throws<InvalidDataException>(() => PromptFile.Read(p));
        Assert.Contains(p, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Shards_PartitionThePrompts()
    {
        var items = Enumerable.Range(0, 11).ToList();
        var shards = Enumerable.Range(0, 3).Select(k => Shard.Parse($"{k}/3").Select(items).ToList()).ToList();
        Assert.Equal([0, 3, 6, 9], shards[0]);
        Assert.Equal([1, 4, 7, 10], shards[1]);
        Assert.Equal(items, shards.SelectMany(s => s).Order());
        Assert.Throws<ArgumentException>(() => Shard.Parse("3/3"));
        Assert.Throws<ArgumentException>(() => Shard.Parse("a/b"));
    }

    [Fact]
    public void ImageRule_AppliesPrefix() =>
        Assert.Equal(Path.Combine("imgs", "COCO_train2014_000000442786.jpg"),
            new ImagePathRule("imgs", "COCO_train2014_").Resolve("000000442786.jpg"));

    [Fact]
    public void TreeJson_UsesTheContractNames_AndRoundTrips()
    {
        var root = HandTrees.Small();
        root.Children[1].ClipScore = null;
        string json = TreeFile.Serialize(root);
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["text", "new_text", "score", "clip_score", "is_final", "children"], names);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("children")[1].GetProperty("clip_score").ValueKind);
        TreeFile.Write(_dir, "7", root);
        var back = TreeFile.Read(_dir, "7");
        Assert.Equal(json, TreeFile.Serialize(back));
        Assert.Equal(["7.json"], Directory.GetFiles(_dir).Select(Path.GetFileName)); // no temp file left
    }

    [Fact]
    public void DeepTrees_RoundTrip()
    {
        var root = new TreeNode { Text = "p" };
        var n = root;
        for (int i = 0; i < 300; i++) n = HandTrees.Node(n, ".", -i, null, i == 299);
        TreeFile.Write(_dir, "deep", root);
        Assert.Equal(301, TreeFile.Read(_dir, "deep").DescendantsAndSelf().Count());
    }

    [Fact]
    public void PreferenceFile_RoundTrips()
    {
        var pairs = new[] { PreferencePair.Create("1", "1.jpg", "<image>\nQ", "good \"one\"", "bad") };
        string p = Path.Combine(_dir, "prefs.json");
        PreferenceFile.Write(p, pairs);
        var back = PreferenceFile.Read(p);
        Assert.Equal("good \"one\"", back[0].Chosen);
        Assert.Equal("bad", back[0].Rejected);
        Assert.Equal("<image>\nQ", back[0].Prompt);
        using var doc = JsonDocument.Parse(File.ReadAllText(p));
        Assert.Equal(["id", "image", "conversations", "rejected_conversations"], doc.RootElement[0].EnumerateObject().Select(x => x.Name));
    }
}
