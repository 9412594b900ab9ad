using Csr.Tests.IO;
using Csr.Train.Eval;

namespace Csr.Tests.Eval;

public class PopeTests
{
    [Theory]
    [InlineData("Yes, there is a dog in the image.", true)]
    [InlineData("Yes.", true)]
    [InlineData("No.", false)]
    [InlineData("No, there is no dog.", false)]
    [InlineData("There is no dog in the image.", false)]
    [InlineData("The dog is not visible", false)]
    [InlineData("Yes. No dog though.", true)] // only the first sentence counts
    [InlineData("No,there is a dog", true)] // commas are removed before splitting: "Nothere" is not "No"
    [InlineData("Not really.", true)] // "Not" is not in the official list
    [InlineData("no", false)]
    [InlineData("", true)]
    public void OfficialAnswerRule(string answer, bool yes)
    {
        Assert.Equal(yes, PopeAnswerRule.IsYes(answer));
    }

    [Fact]
    public void MetricsOnHandCountedConfusion()
    {
        // 3 TP, 1 FP, 4 TN, 2 FN
        var items = new List<(bool, bool)>();
        items.AddRange(Enumerable.Repeat((true, true), 3));
        items.Add((false, true));
        items.AddRange(Enumerable.Repeat((false, false), 4));
        items.AddRange(Enumerable.Repeat((true, false), 2));
        var m = PopeMetrics.Compute(items);
        Assert.Equal((3, 1, 4, 2), (m.TruePositives, m.FalsePositives, m.TrueNegatives, m.FalseNegatives));
        Assert.Equal(0.7, m.Accuracy, 12);
        Assert.Equal(0.75, m.Precision, 12);
        Assert.Equal(0.6, m.Recall, 12);
        Assert.Equal(2 * 0.75 * 0.6 / 1.35, m.F1, 12);
        Assert.Equal(0.4, m.YesRatio, 12);
    }

    [Fact]
    public void MetricsWithNoYesPredictionsAreZeroNotNaN()
    {
        var m = PopeMetrics.Compute([(true, false), (false, false)]);
        Assert.Equal(0, m.Precision);
        Assert.Equal(0, m.F1);
        Assert.Equal(0.5, m.Accuracy);
    }

    private static PopeSampler Sampler()
    {
        string[] cats = ["fork", "knife", "dog", "cat", "car"];
        var stats = new List<AnnotatedImage>();
        for (int i = 0; i < 10; i++) stats.Add(new AnnotatedImage($"s{i}", new HashSet<string> { "fork", "knife" }));
        for (int i = 0; i < 20; i++) stats.Add(new AnnotatedImage($"t{i}", new HashSet<string> { "car" }));
        for (int i = 0; i < 5; i++) stats.Add(new AnnotatedImage($"u{i}", new HashSet<string> { "dog", "cat" }));
        return new PopeSampler(cats, stats);
    }

    [Fact]
    public void AdversarialPicksTheMostCoOccurringAbsentObject()
    {
        var q = Sampler().Sample([new AnnotatedImage("img", new HashSet<string> { "fork" })], PopeSplit.Adversarial, 3, 1);
        Assert.Equal(2, q.Count);
        Assert.Equal(("Is there a fork in the image?", "yes"), (q[0].Text, q[0].Label));
        Assert.Equal(("Is there a knife in the image?", "no"), (q[1].Text, q[1].Label));
    }

    [Fact]
    public void PopularPicksTheMostFrequentAbsentObject()
    {
        var q = Sampler().Sample([new AnnotatedImage("img", new HashSet<string> { "fork" })], PopeSplit.Popular, 3, 1);
        Assert.Equal("Is there a car in the image?", q[1].Text);
    }

    [Fact]
    public void RandomSplitIsBalancedAbsentAndSeeded()
    {
        var imgs = Enumerable.Range(0, 30).Select(i => new AnnotatedImage($"i{i}", new HashSet<string> { "dog", i % 2 == 0 ? "cat" : "car" })).ToList();
        var s = Sampler();
        var q = s.Sample(imgs, PopeSplit.Random, 3, 5);
        Assert.Equal(120, q.Count);
        Assert.Equal(60, q.Count(x => x.LabelYes));
        Assert.Equal(q.Select(x => x.QuestionId), Enumerable.Range(1, 120));
        foreach (var x in q.Where(x => !x.LabelYes))
        {
            var img = imgs.First(i => i.Image == x.Image);
            Assert.DoesNotContain(img.Objects, o => x.Text.Contains($" {o} "));
        }
        Assert.Equal(q, s.Sample(imgs, PopeSplit.Random, 3, 5));
        Assert.NotEqual(q.Select(x => x.Text), s.Sample(imgs, PopeSplit.Random, 3, 6).Select(x => x.Text));
    }

    [Fact]
    public void QuestionFileRoundTripsAndRejectsBadLabels()
    {
        var f = Path.GetTempFileName();
        try
        {
            var qs = new[] { new PopeQuestion(1, "a.png", "Is there a dog in the image?", "yes"), new PopeQuestion(2, "a.png", "Is there a cat in the image?", "no") };
            PopeQuestionFile.Write(f, qs);
            Assert.Equal(qs, PopeQuestionFile.Read(f));
            File.WriteAllText(f, "{\"question_id\": 1, \"image\": \"a.png\", \"text\": \"Is there?\", \"label\": \"maybe\"}\n");
            var ex = Assert.Throws<InvalidDataException>(() => PopeQuestionFile.Read(f));
            Assert.Contains(":1", ex.Message);
            Assert.Contains("maybe", ex.Message);
        }
        finally { File.Delete(f); }
    }

    [SharedDataFact("pope/coco_pope_random.jsonl")]
    public void ReadsTheOfficialRandomSplit() => CheckOfficialFile("random");

    [SharedDataFact("pope/coco_pope_popular.jsonl")]
    public void ReadsTheOfficialPopularSplit() => CheckOfficialFile("popular");

    [SharedDataFact("pope/coco_pope_adversarial.jsonl")]
    public void ReadsTheOfficialAdversarialSplit() => CheckOfficialFile("adversarial");

    static void CheckOfficialFile(string split)
    {
        var qs = PopeQuestionFile.Read(SharedData.Find($"pope/coco_pope_{split}.jsonl")!);
        Assert.Equal(3000, qs.Count);
        Assert.Equal(1500, qs.Count(q => q.LabelYes));
        Assert.Equal(500, qs.Select(q => q.Image).Distinct().Count());
        Assert.All(qs, q => Assert.StartsWith("Is there a", q.Text));
        Assert.All(qs, q => Assert.Equal(q.Image, $"COCO_val2014_{CaptionFile.ImageIdFromFileName(q.Image):D12}.jpg"));
    }
}
