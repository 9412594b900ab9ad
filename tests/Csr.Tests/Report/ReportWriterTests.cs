using System.Text.Json;
using Csr.Train.Report;
using SkiaSharp;

namespace Csr.Tests.Report;

public class ReportWriterTests
{
    internal static ReportData MadeUp()
    {
        RoundReport R(int round, double chairS, double advF1) => new(round, chairS, chairS / 3,
            new Dictionary<string, PopeSplitReport>
            {
                ["random"] = new(90, 91, 89, 90, 49),
                ["popular"] = new(85, 84, 86, 85, 51),
                ["adversarial"] = new(advF1 + 0.5, advF1 - 1, advF1 + 1, advF1, 52),
            });
        return new ReportData(3,
        [
            new ArmReport("csr", 0.9, [R(0, 50, 80), R(1, 40, 80.5), R(2, 33, 80.2), R(3, 30, 79.5)]),
            new ArmReport("ablation", 0, [R(0, 50, 80), R(1, 47, 79), R(2, 45, 78), R(3, 44, 77)]),
        ],
        [new ExamplePair("csr", 1, "w3-1-00000.png", "Describe this image.\n<image>", "There is a red circle.", "There is a red circle. There is a blue square.", ["circle"])])
        {
            TimingsSeconds = new Dictionary<string, double> { ["sample"] = 12.5 },
            Settings = new Dictionary<string, string> { ["rounds"] = "3" },
        };
    }

    [Fact]
    public void JsonRoundTripsWithTheDocumentedFieldNames()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-report-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = MadeUp();
            var paths = ReportWriter.Write(data, dir);
            var back = ReportWriter.Read(paths.Json);
            Assert.Equal(data.Seed, back.Seed);
            Assert.Equal(data.Arms.Count, back.Arms.Count);
            Assert.Equal(data.Arms[1].Rounds[3].ChairS, back.Arms[1].Rounds[3].ChairS);
            Assert.Equal(data.Arms[0].Rounds[2].Pope["adversarial"], back.Arms[0].Rounds[2].Pope["adversarial"]);
            Assert.Equal(data.Examples[0].Rejected, back.Examples[0].Rejected);

            using var doc = JsonDocument.Parse(File.ReadAllText(paths.Json));
            var round = doc.RootElement.GetProperty("arms")[0].GetProperty("rounds")[3];
            Assert.Equal(30, round.GetProperty("chair_s").GetDouble());
            Assert.Equal(10, round.GetProperty("chair_i").GetDouble());
            foreach (var split in ReportWriter.PopeSplits)
                foreach (var key in new[] { "acc", "precision", "recall", "f1", "yes_ratio" })
                    Assert.Equal(JsonValueKind.Number, round.GetProperty("pope").GetProperty(split).GetProperty(key).ValueKind);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void MarkdownHasTheTableChecksAndExamplesAndThePlotDecodes()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-report-" + Guid.NewGuid().ToString("N"));
        try
        {
            var paths = ReportWriter.Write(MadeUp(), dir);
            var md = File.ReadAllText(paths.Markdown);
            Assert.Contains("| csr | 0.9 | 3 | 30.0 | 10.0 |", md);
            Assert.Contains("| ablation | 0 | 3 | 44.0 |", md);
            Assert.Contains("## Checks", md);
            Assert.Contains("relative drop 40.0% (target >= 30%): met", md);
            Assert.Contains("CHAIR_S at round 3, CSR 30.0 vs ablation (alpha 0) 44.0 (target: CSR lower): met", md);
            Assert.Contains("80.0 -> 79.5 (target: no more than 1 point lower): met", md);
            Assert.DoesNotContain("last round both arms reached", md);
            foreach (var word in new[] { "Goal", "goal", "issue", "session" }) Assert.DoesNotContain(word, md);
            Assert.Contains("rejected: There is a red circle. There is a blue square.", md);
            Assert.Contains("](report.png)", md);
            using var bmp = SKBitmap.Decode(paths.Plot);
            Assert.Equal(960, bmp.Width);
            Assert.Equal(400, bmp.Height);
            // the CSR arm's line colour appears somewhere in the plot
            bool red = false;
            for (int y = 0; y < bmp.Height && !red; y++)
                for (int x = 0; x < bmp.Width && !red; x++)
                { var c = bmp.GetPixel(x, y); red = c.Red > 200 && c.Green < 60 && c.Blue < 60; }
            Assert.True(red);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void ChecksReportMissesHonestly()
    {
        var d = MadeUp();
        var worse = d with { Arms = [d.Arms[1] with { Name = "csr" }, d.Arms[0] with { Name = "ablation" }] };
        var g = ReportChecks.From(worse)!;
        Assert.False(g.ChairDropMet);
        Assert.False(g.BeatsAblation);
        Assert.False(g.PopeKept);
    }

    [Fact]
    public void ChecksFlagACollapseInCoverageAndAPopeCheckAtChance()
    {
        var d = MadeUp();
        RoundReport WithCoverage(RoundReport r, double coverage) => r with { Coverage = coverage };
        var csr = d.Arms[0];
        var rounds = csr.Rounds.Select((r, i) => WithCoverage(r, i == 0 ? 80 : 40)).ToList();
        var collapsed = d with { Arms = [csr with { Rounds = rounds }, d.Arms[1]] };
        var g = ReportChecks.From(collapsed)!;
        Assert.True(g.CoverageCollapsed);
        Assert.False(g.PopeAtChance); // base adversarial accuracy 80.5
        var md = ReportWriter.Markdown(collapsed, "report.png");
        Assert.Contains("but coverage fell 80.0 -> 40.0", md);
        Assert.Contains("| csr | 0.9 | 3 | 30.0 | 10.0 | 40.0 | - |", md);
        var withObjects = collapsed with { Arms = [collapsed.Arms[0] with { Rounds = collapsed.Arms[0].Rounds.Select(r => r with { ObjectsPerCaption = 2.25 }).ToList() }, d.Arms[1]] };
        Assert.Contains("| csr | 0.9 | 3 | 30.0 | 10.0 | 40.0 | 2.25 | 90.0 | 85.0 |", ReportWriter.Markdown(withObjects, "report.png"));
        Assert.DoesNotContain("at chance", md);

        var kept = d with { Arms = [csr with { Rounds = csr.Rounds.Select(r => WithCoverage(r, 75)).ToList() }, d.Arms[1]] };
        Assert.False(ReportChecks.From(kept)!.CoverageCollapsed);
        Assert.DoesNotContain("coverage fell", ReportWriter.Markdown(kept, "report.png"));

        // the line is at 10 points: 80 -> 69 collapsed, 80 -> 71 kept (and said so)
        ReportData Fell(double to) => d with { Arms = [csr with { Rounds = csr.Rounds.Select((r, i) => WithCoverage(r, i == 0 ? 80 : to)).ToList() }, d.Arms[1]] };
        Assert.True(ReportChecks.From(Fell(69))!.CoverageCollapsed);
        Assert.False(ReportChecks.From(Fell(71))!.CoverageCollapsed);
        Assert.Contains("coverage 80.0 -> 71.0 (no more than 10 points lower)", ReportWriter.Markdown(Fell(71), "report.png"));

        var chance = new Dictionary<string, PopeSplitReport>(csr.Rounds[0].Pope) { ["adversarial"] = new(50, 0, 0, 0, 0) };
        var atChance = d with { Arms = [csr with { Rounds = [csr.Rounds[0] with { Pope = chance }, .. csr.Rounds.Skip(1)] }, d.Arms[1]] };
        Assert.True(ReportChecks.From(atChance)!.PopeAtChance);
        Assert.Contains("answers the probes at chance (adversarial accuracy 50.0)", ReportWriter.Markdown(atChance, "report.png"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PlotDrawsTitleTextWithOrWithoutASystemFont(bool pixelFont)
    {
        using var bmp = SKBitmap.Decode(ReportPlot.RenderPng(MadeUp(), pixelFont: pixelFont));
        int dark = 0;
        for (int y = 10; y < 32; y++)
            for (int x = 60; x < 300; x++)
                if (bmp.GetPixel(x, y).Red < 100) dark++;
        Assert.True(dark > 40, $"only {dark} dark pixels where the title should be");
    }
}
