using Csr.Train.Eval;
using Csr.Train.World;

namespace Csr.Tests.Eval;

public class ChairTests
{
    [Theory]
    [InlineData("dogs", "dog")]
    [InlineData("people", "person")]
    [InlineData("boxes", "box")]
    [InlineData("crosses", "cross")]
    [InlineData("puppies", "puppy")]
    [InlineData("knives", "knife")]
    [InlineData("buses", "bus")]
    [InlineData("bus", "bus")]
    [InlineData("glass", "glass")]
    [InlineData("scissors", "scissors")]
    [InlineData("sheep", "sheep")]
    [InlineData("tomatoes", "tomato")]
    [InlineData("shoes", "shoe")]
    [InlineData("horses", "horse")]
    [InlineData("skis", "ski")]
    [InlineData("tennis", "tennis")]
    public void SingularizerHandlesRegularAndIrregularPlurals(string plural, string singular) =>
        Assert.Equal(singular, Singularizer.Singularize(plural));

    [Fact]
    public void CocoLexiconMatchesSynonymsPluralsAndTwoWordNames()
    {
        var lex = CocoObjects.Lexicon();
        var m = lex.Extract("Two hot dogs, a Teddy Bear and some people near the cell phones; a puppy sleeps.");
        Assert.Equal(new[] { "hot dog", "teddy bear", "person", "cell phone", "dog" }, m.Select(x => x.Category));
        // "dog" inside "hot dog" is not a dog; "bear" inside "teddy bear" is not a bear.
        Assert.DoesNotContain(m, x => x.Category == "bear");
    }

    [Fact]
    public void CocoLexiconHas80CategoriesAndIgnoresToiletSeat()
    {
        var lex = CocoObjects.Lexicon();
        Assert.Equal(80, lex.Categories.Count);
        Assert.Equal(new[] { "toilet" }, lex.Extract("The toilet seat is up.").Select(x => x.Category));
        Assert.Equal(new[] { "chair" }, lex.Extract("An empty seat.").Select(x => x.Category));
    }

    [Fact]
    public void ChairOnHandMadeCaptions()
    {
        var chair = new ChairEvaluator(CocoObjects.Lexicon());
        var r = chair.Evaluate(
        [
            // mentions: person, dog, frisbee (all true)
            new ChairCaption("1", "A man throws a frisbee to his dog.", new HashSet<string> { "person", "dog", "frisbee" }),
            // mentions: person (true), bench (false), dogs -> dog (false)
            new ChairCaption("2", "A woman on a bench with two dogs.", new HashSet<string> { "person", "cat" }),
            // mentions: none
            new ChairCaption("3", "A sunny day.", new HashSet<string> { "person" }),
            // mentions: sofa -> couch (true), laptops -> laptop (false), couch again (true)
            new ChairCaption("4", "Two laptops on a sofa; the couch is red.", new HashSet<string> { "couch" }),
        ]);
        Assert.Equal(4, r.Captions);
        Assert.Equal(9, r.Mentions);
        Assert.Equal(3, r.HallucinatedMentions);
        Assert.Equal(2 / 4.0, r.ChairS, 12);
        Assert.Equal(3 / 9.0, r.ChairI, 12);
        Assert.Equal(new[] { "bench", "dog" }, r.PerCaption[1].Hallucinated.Select(h => h.Category));
        Assert.Equal("laptop", r.PerCaption[3].Hallucinated.Single().Word);
    }

    [Fact]
    public void WorldLexiconMatchesShapeSynonymsAndPlurals()
    {
        var chair = new ChairEvaluator(new ObjectLexicon(WorldVocabulary.Default.ObjectWords()));
        var r = chair.Evaluate(
        [
            new ChairCaption("a", "There is a red ball. There are two boxes.", new HashSet<string> { "circle", "square" }),
            new ChairCaption("b", "There is an orange rhombus. There are some crosses.", new HashSet<string> { "diamond" }),
            new ChairCaption("c", "There is a green disc next to the pluses.", new HashSet<string> { "circle" }),
        ]);
        Assert.Equal(new[] { "circle", "square" }, r.PerCaption[0].Mentions.Select(m => m.Category));
        Assert.Equal(new[] { "cross" }, r.PerCaption[1].Hallucinated.Select(m => m.Category));
        Assert.Equal(new[] { "cross" }, r.PerCaption[2].Hallucinated.Select(m => m.Category));
        Assert.Equal(2 / 3.0, r.ChairS, 12);
        Assert.Equal(2 / 6.0, r.ChairI, 12);
    }

    [Fact]
    public void CoverageCountsDistinctPresentObjectsNamedAndAnEmptyCaptionScoresZeroChairButZeroCoverage()
    {
        var chair = new ChairEvaluator(new ObjectLexicon(WorldVocabulary.Default.ObjectWords()));
        var r = chair.Evaluate(
        [
            // names circle twice (once as a synonym) and a hallucinated cross: covers 1 of 2
            new ChairCaption("a", "There is a red ball. There is a blue circle. There is a cross.", new HashSet<string> { "circle", "square" }),
            new ChairCaption("b", "", new HashSet<string> { "diamond" }),
            new ChairCaption("c", "There is a star. There is a hexagon.", new HashSet<string> { "star", "hexagon", "triangle" }),
        ]);
        Assert.Equal(3 / 6.0, r.Coverage, 12);
        Assert.Equal(5 / 3.0, r.MentionsPerCaption, 12);
        var empty = chair.Evaluate([new ChairCaption("x", "", new HashSet<string> { "circle" })]);
        Assert.Equal(0, empty.ChairS);
        Assert.Equal(0, empty.Coverage);
    }

    [Fact]
    public void LexiconRejectsAWordNamingTwoCategories()
    {
        var ex = Assert.Throws<ArgumentException>(() => new ObjectLexicon([("a", ["thing"]), ("b", ["things"])]));
        Assert.Contains("thing", ex.Message);
    }

    [Fact]
    public void CocoGroundTruthComesFromInstancesAndReferenceCaptions()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-chair-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var inst = Path.Combine(dir, "instances.json");
            File.WriteAllText(inst, """
                {"images":[{"id":42,"file_name":"COCO_val2014_000000000042.jpg"}],
                 "annotations":[{"image_id":42,"category_id":18,"segmentation":[[1,2,3,4]],"bbox":[0,0,1,1]},
                                {"image_id":42,"category_id":1,"segmentation":{"counts":[1,2],"size":[3,4]}}],
                 "categories":[{"id":1,"name":"person","supercategory":"person"},{"id":18,"name":"dog","supercategory":"animal"}]}
                """);
            var caps = Path.Combine(dir, "captions.json");
            File.WriteAllText(caps, """{"annotations":[{"image_id":42,"id":1,"caption":"A man and his dog on a couch."}]}""");
            var gt = CocoChairData.LoadGroundTruth(inst, caps, CocoObjects.Lexicon());
            Assert.Equal(new[] { "couch", "dog", "person" }, gt[42].OrderBy(x => x));

            var gen = Path.Combine(dir, "gen.jsonl");
            File.WriteAllText(gen, """
                {"image_id": 42, "caption": "A dog and a cat on a sofa."}
                {"image": "COCO_val2014_000000000042.jpg", "text": "A person."}
                """);
            var read = CaptionFile.Read(gen);
            Assert.Equal(new long[] { 42, 42 }, read.Select(c => c.ImageId));
            var r = new ChairEvaluator(CocoObjects.Lexicon()).Evaluate(read.Select(c => new ChairCaption(c.ImageId.ToString(), c.Caption, gt[c.ImageId])));
            Assert.Equal(0.5, r.ChairS, 12);
            Assert.Equal(1 / 4.0, r.ChairI, 12);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CaptionFileErrorsNameTheLine()
    {
        var f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "{\"image_id\": 1, \"caption\": \"ok\"}\n{\"caption\": \"no id\"}\n");
            var ex = Assert.Throws<InvalidDataException>(() => CaptionFile.Read(f));
            Assert.Contains(":2", ex.Message);
        }
        finally { File.Delete(f); }
    }
}
