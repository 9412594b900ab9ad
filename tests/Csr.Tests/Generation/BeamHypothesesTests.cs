using Csr.Models.Generation;

namespace Csr.Tests.Generation;

/// <summary>HF BeamHypotheses bookkeeping on hand-computed cases.</summary>
public class BeamHypothesesTests
{
    [Fact]
    public void Keeps_the_best_capacity_hypotheses_and_tracks_the_worst_score_as_hf()
    {
        var h = new BeamHypotheses(2, 1.0, EarlyStopping.Heuristic, 10);
        Assert.Equal(1e9, h.WorstScore);                    // HF's initial worst_score
        h.Add(new[] { 1, 2 }, -4.0, 2, true);              // score -2
        Assert.Equal(-2.0, h.WorstScore);
        h.Add(new[] { 1, 3, 2 }, -3.0, 3, true);           // score -1
        Assert.Equal(-2.0, h.WorstScore);
        h.Add(new[] { 4 }, -3.0, 1, false);                // score -3 < worst and full: rejected
        Assert.Equal(2, h.Count);
        h.Add(new[] { 5, 2 }, -3.0, 2, true);              // score -1.5: evicts -2, worst becomes the next lowest (-1.5)
        Assert.Equal(2, h.Count);
        Assert.Equal(-1.5, h.WorstScore);
        Assert.Equal(new[] { -1.0, -1.5 }, h.Beams.Select(b => b.Score).ToArray()); // insertion order kept
    }

    [Fact]
    public void Is_done_follows_the_early_stopping_rules()
    {
        var heuristic = new BeamHypotheses(1, 1.0, EarlyStopping.Heuristic, 10);
        Assert.False(heuristic.IsDone(-1.0, 3));           // not full
        heuristic.Add(new[] { 1, 2 }, -1.0, 2, true);      // worst -0.5
        Assert.True(heuristic.IsDone(-3.0, 4));            // best attainable -0.75 <= -0.5
        Assert.False(heuristic.IsDone(-1.0, 4));           // best attainable -0.25 > -0.5
        var always = new BeamHypotheses(1, 1.0, EarlyStopping.True, 10);
        always.Add(new[] { 1 }, -100.0, 1, true);
        Assert.True(always.IsDone(0.0, 2));
        var never = new BeamHypotheses(1, 1.0, EarlyStopping.Never, 10);
        never.Add(new[] { 1, 2 }, -1.0, 2, true);          // worst -0.5
        Assert.False(never.IsDone(-4.0, 4));               // bound uses max length 10: -0.4 > -0.5
        Assert.True(never.IsDone(-6.0, 4));                // -0.6 <= -0.5
    }
}
