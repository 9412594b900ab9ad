using Csr.Train.Cli;
using Csr.Train.Report;

namespace Csr.Tests.Report;

/// <summary>The demo's checks and exit code, from made-up reports (no demo run).</summary>
public class DemoChecksTests
{
    static ReportData WithAblationRounds(int ablationRounds, string? ablationError = null)
    {
        var d = ReportWriterTests.MadeUp();
        var ab = d.Arms[1];
        return d with { Arms = [d.Arms[0], ab with { Rounds = ab.Rounds.Take(ablationRounds + 1).ToList(), Error = ablationError }] };
    }

    [Fact]
    public void AnArmThatStoppedEarlyIsComparedAtTheLastRoundBothReached()
    {
        // CSR reached round 3 (CHAIR_S 30), the ablation stopped after round 1 (CHAIR_S 47; CSR had 40 there)
        var data = WithAblationRounds(1, "stopped after round 1 of 3: InvalidDataException: no preference pairs");
        var c = ReportChecks.From(data)!;
        Assert.Equal(3, c.FinalRound);
        Assert.Equal(1, c.ComparedRound);
        Assert.Equal(40, c.CsrChairSAtComparedRound);
        Assert.Equal(47, c.AblationChairSAtComparedRound);
        Assert.True(c.ArmsStoppedApart);
        var md = ReportWriter.Markdown(data, "report.png");
        Assert.Contains("CHAIR_S at round 1, CSR 40.0 vs ablation (alpha 0) 47.0 (target: CSR lower): met", md);
        Assert.Contains("compared at round 1, the last round both arms reached (CSR reached round 3, the ablation round 1)", md);
        Assert.DoesNotContain("CSR 30.0 vs ablation", md);
        Assert.Contains("- ablation: stopped after round 1 of 3", md);
    }

    [Fact]
    public void AnAblationWithNoRoundIsNotCompared()
    {
        var data = WithAblationRounds(0, "stopped after round 0 of 3: ExternalException: boom");
        var c = ReportChecks.From(data)!;
        Assert.Null(c.ComparedRound);
        Assert.False(c.BeatsAblation);
        Assert.Contains("not compared, the ablation arm reached no round after the base model", ReportWriter.Markdown(data, "report.png"));
    }

    [Fact]
    public void RoundsZeroPrintsNoChecks()
    {
        var d = ReportWriterTests.MadeUp();
        var baseOnly = d with { Arms = d.Arms.Select(a => a with { Rounds = a.Rounds.Take(1).ToList() }).ToList() };
        Assert.Null(ReportChecks.From(baseOnly));
        Assert.DoesNotContain("## Checks", ReportWriter.Markdown(baseOnly, "report.png"));
        Assert.Empty(DemoVerb.SummaryLines(baseOnly));
        Assert.Equal(0, DemoVerb.ExitCode(baseOnly));
    }

    [Fact]
    public void TheDemoExitsNonZeroWhenAnArmFails()
    {
        Assert.Equal(0, DemoVerb.ExitCode(ReportWriterTests.MadeUp()));
        var ablationFailed = WithAblationRounds(1, "stopped after round 1 of 3: ExternalException: boom");
        Assert.Equal(DemoVerb.ArmFailedExitCode, DemoVerb.ExitCode(ablationFailed));
        Assert.NotEqual(0, DemoVerb.ArmFailedExitCode);
        var d = ReportWriterTests.MadeUp();
        var csrFailed = d with { Arms = [d.Arms[0] with { Rounds = d.Arms[0].Rounds.Take(1).ToList(), Error = "stopped after round 0 of 3: boom" }, d.Arms[1]] };
        Assert.Equal(DemoVerb.ArmFailedExitCode, DemoVerb.ExitCode(csrFailed));
        Assert.Contains("arm csr failed: stopped after round 0 of 3: boom", DemoVerb.SummaryLines(csrFailed));
        Assert.DoesNotContain(DemoVerb.SummaryLines(csrFailed), l => l.StartsWith("Checks", StringComparison.Ordinal));
    }

    [Fact]
    public void TheDemoSummaryShowsTheChecksInUserWords()
    {
        var lines = DemoVerb.SummaryLines(ReportWriterTests.MadeUp());
        Assert.Equal("Checks:", lines[0]);
        Assert.Contains(lines, l => l.Contains("CHAIR_S at round 3, CSR 30.0 vs ablation (alpha 0) 44.0", StringComparison.Ordinal));
        foreach (var word in new[] { "Goal", "goal", "issue", "session" })
            Assert.DoesNotContain(lines, l => l.Contains(word, StringComparison.Ordinal));
    }
}
