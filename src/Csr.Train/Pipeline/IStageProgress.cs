namespace Csr.Train.Pipeline;

/// <summary>Progress reporting of long stages (the CLI draws Spectre.Console bars; library callers may ignore it).</summary>
public interface IStageProgress
{
    void Start(string stage, int total);
    void Advance(string stage, int by = 1);
    void Message(string text);
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
