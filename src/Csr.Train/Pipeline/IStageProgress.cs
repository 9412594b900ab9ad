namespace Csr.Train.Pipeline;

/// <summary>Progress reporting of long stages (the CLI draws Spectre.Console bars; library callers may ignore it).</summary>
public interface IStageProgress
{
    void Start(string stage, int total);
    void Advance(string stage, int by = 1);
    void Message(string text);
}

/// <summary>Reports nothing.</summary>
public sealed class NoProgress : IStageProgress
{
    public static readonly NoProgress Instance = new();
    public void Start(string stage, int total) { }
    public void Advance(string stage, int by = 1) { }
    public void Message(string text) { }
}
