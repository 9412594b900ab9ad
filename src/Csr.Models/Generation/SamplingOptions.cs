namespace Csr.Models.Generation;

/// <summary>Options for <see cref="Decoding.Sample"/> (HF semantics: temperature, then top-k, then top-p).</summary>
public sealed record SamplingOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Generation of a row ends after it emits one of these.</summary>
    public IReadOnlyCollection<int> StopTokenIds { get; init; } = Array.Empty<int>();
    /// <summary>&gt; 0; logits are divided by it.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>(0, 1]: keep the smallest set of most likely tokens whose probability reaches top_p (HF TopPLogitsWarper).</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>0 = off.</summary>
    public int TopK { get; init; }

    public SamplingOptions Validate()
    {
        if (MaxNewTokens <= 0) throw new ArgumentException($"max_new_tokens must be > 0, got {MaxNewTokens}");
        if (!(Temperature > 0)) throw new ArgumentException($"temperature must be > 0, got {Temperature}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top_p must be in (0, 1], got {TopP}");
        if (TopK < 0) throw new ArgumentException($"top_k must be >= 0, got {TopK}");
        return this;
    }
}
