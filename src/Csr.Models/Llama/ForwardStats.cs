namespace Csr.Models.Llama;

/// <summary>
/// Process-wide counts of language-model forwards (<see cref="LlamaModel.Forward"/>): calls, rows (batch entries) and
/// positions (rows x new tokens). Rows per forward is how many sequences one pass over the weights serves, which is
/// what decoding's speed depends on. Benchmarks read a <see cref="Snapshot"/> before and after a run.
/// </summary>
public static class ForwardStats
{
    private static long _calls, _rows, _tokens;

    /// <summary>The counts at one moment.</summary>
    public readonly record struct Counts(long Calls, long Rows, long Tokens)
    {
        public static Counts operator -(Counts a, Counts b) => new(a.Calls - b.Calls, a.Rows - b.Rows, a.Tokens - b.Tokens);
        /// <summary>Mean rows per forward (0 when there was none).</summary>
        public double RowsPerForward => Calls == 0 ? 0 : (double)Rows / Calls;
    }

    public static Counts Snapshot() => new(Interlocked.Read(ref _calls), Interlocked.Read(ref _rows), Interlocked.Read(ref _tokens));

    internal static void Record(long rows, long tokensPerRow)
    {
        Interlocked.Increment(ref _calls);
        Interlocked.Add(ref _rows, rows);
        Interlocked.Add(ref _tokens, rows * tokensPerRow);
    }
}
