namespace Csr.Train.Sampling;

/// <summary>
/// Options of the sentence-level beam search tree; defaults are the official sample.py arguments.
/// </summary>
public sealed record SampleOptions
{
    /// <summary>Sentence-level beam width: with at least this many live children, keep top num_beams/2-1 and bottom num_beams/2.</summary>
    public int NumBeams { get; init; } = 5;
    /// <summary>Diverse beam search groups inside one sentence.</summary>
    public int NumBeamGroups { get; init; } = 5;
    /// <summary>Token-level beams (= children per node).</summary>
    public int NumTokenBeams { get; init; } = 5;
    /// <summary>Hamming diversity penalty between groups.</summary>
    public double DiversityPenalty { get; init; } = 3.0;
    /// <summary>Max new tokens per sentence.</summary>
    public int MaxNewTokens { get; init; } = 70;
    /// <summary>A node whose full text reaches this many characters is final.</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>A node whose answer reaches this many tokens is final (null: only the model's context bounds the answer).</summary>
    public int? MaxAnswerTokens { get; init; }
    /// <summary>Sentence-end token; null = the tokenizer's "." (29889 for the Llama tokenizer, the official default).</summary>
    public int? SentenceEndId { get; init; }
    /// <summary>Children continue from their parent's KV cache (false = re-encode image and prefix per node, as the official code).</summary>
    public bool PrefixCache { get; init; } = true;
    /// <summary>Run the nodes of one depth as one batch (prefix-cache mode).</summary>
    public bool BatchNodes { get; init; } = true;
    /// <summary>
    /// Prompts whose trees advance together (prefix-cache mode with batched nodes): every depth of all of them runs as
    /// one group beam search, and a finished tree's slot takes the next prompt. 1 = one prompt at a time; null = the
    /// default for the model's device (<see cref="DefaultBatchPrompts"/>).
    /// </summary>
    public int? BatchPrompts { get; init; }
    /// <summary>Use the fused beam step (Csr.Kernels) where the generator supports it.</summary>
    public bool Fused { get; init; }

    /// <summary>Most prompts batched by default on a CPU and on a GPU (decode reads the weights once per step for all rows).</summary>
    public const int DefaultBatchPromptsCpu = 16, DefaultBatchPromptsGpu = 32;

    /// <summary>KV-cache bytes the default batch may hold on a CPU and on a GPU.</summary>
    public const long KvBudgetCpu = 2L << 30, KvBudgetGpu = 16L << 30;

    /// <summary>
    /// <see cref="BatchPrompts"/>, or the default for a model on <paramref name="device"/>: at most
    /// <see cref="DefaultBatchPromptsCpu"/> / <see cref="DefaultBatchPromptsGpu"/> trees, and no more than the KV-cache
    /// budget holds at <paramref name="kvBytesPerTree"/> each (at least one).
    /// </summary>
    public int BatchPromptsFor(TorchSharp.DeviceType device, long kvBytesPerTree = 0)
    {
        if (BatchPrompts is int n) return n;
        bool cpu = device == TorchSharp.DeviceType.CPU;
        int most = cpu ? DefaultBatchPromptsCpu : DefaultBatchPromptsGpu;
        long budget = cpu ? KvBudgetCpu : KvBudgetGpu;
        return kvBytesPerTree <= 0 ? most : (int)Math.Clamp(budget / kvBytesPerTree, 1, most);
    }

    /// <summary>
    /// KV-cache bytes one tree holds at its widest depth: the kept sentence beams x the token beams, each row a copy
    /// of its context (<paramref name="contextTokens"/> plus two sentences), plus the parents' rows the depth starts from.
    /// </summary>
    public long KvBytesPerTree(int layers, int kvHeads, int headDim, int elementSize, int contextTokens)
    {
        long nodes = Math.Max(1, NumBeams / 2 - 1 + NumBeams / 2);
        long rows = nodes * NumTokenBeams + nodes;
        long positions = contextTokens + 2L * MaxNewTokens;
        return rows * positions * layers * 2L * kvHeads * headDim * elementSize;
    }

    public void Validate()
    {
        if (NumBeams < 2) throw new ArgumentException($"--num-beams {NumBeams}: must be >= 2");
        if (NumTokenBeams < 1) throw new ArgumentException($"--num-token-beams {NumTokenBeams}: must be >= 1");
        if (NumBeamGroups < 1 || NumTokenBeams % NumBeamGroups != 0)
            throw new ArgumentException($"--num-beam-groups {NumBeamGroups}: must divide --num-token-beams {NumTokenBeams}");
        if (MaxNewTokens < 1) throw new ArgumentException($"--max-new-tokens {MaxNewTokens}: must be >= 1");
        if (MaxLength < 1) throw new ArgumentException($"--max-length {MaxLength}: must be >= 1");
        if (MaxAnswerTokens is < 1) throw new ArgumentException($"max answer tokens {MaxAnswerTokens}: must be >= 1");
        if (BatchPrompts is int bp && bp < 1) throw new ArgumentException($"--batch-prompts {bp}: must be >= 1");
        if (DiversityPenalty < 0) throw new ArgumentException($"--diversity-penalty {DiversityPenalty}: must be >= 0");
    }
}
