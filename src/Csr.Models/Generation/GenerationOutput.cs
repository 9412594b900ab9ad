namespace Csr.Models.Generation;

/// <summary>Result of greedy decoding or sampling: per batch row the generated ids (the stop token included when one ended it).</summary>
public sealed record GenerationOutput(int[][] Tokens, bool[] Stopped)
{
    public int BatchSize => Tokens.Length;
}
