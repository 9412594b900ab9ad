namespace Csr.Train.Pipeline;

/// <summary>Progress reporting of long stages (the CLI draws Spectre.Console bars; library callers may ignore it).</summary>
public interface IStageProgress
{
    void Start(string stage, int total);
    void Advance(string stage, int by = 1);
    void Message(string text);
}

/// <summary>Helpers over <see cref="IStageProgress"/>.</summary>
public static class StageProgressExtensions
{
    /// <summary>
    /// A callback taking (items done so far, items in all) that reports <paramref name="stage"/>: its first call starts
    /// the stage with that total, every call advances it by the items done since the previous one. For work that reports
    /// cumulative counts in batches (nothing is printed when there is no work at all).
    /// </summary>
    public static Action<int, int> Counter(this IStageProgress progress, string stage)
    {
        int reported = 0;
        return (done, total) =>
        {
            if (reported == 0) progress.Start(stage, total);
            if (done > reported) progress.Advance(stage, done - reported);
            reported = Math.Max(reported, done);
        };
    }
}

/// <summary>Reports to <paramref name="inner"/> with <paramref name="prefix"/> in front of every stage name.</summary>
public sealed class PrefixedProgress(IStageProgress inner, string prefix) : IStageProgress
{
    public void Start(string stage, int total) => inner.Start(prefix + stage, total);
    public void Advance(string stage, int by = 1) => inner.Advance(prefix + stage, by);
    public void Message(string text) => inner.Message(text);
}

/// <summary>Reports nothing.</summary>
public sealed class NoProgress : IStageProgress
{
    public static readonly NoProgress Instance = new();
    public void Start(string stage, int total) { }
    public void Advance(string stage, int by = 1) { }
    public void Message(string text) { }
}
