namespace Csr.Models.Generation;

/// <summary>HF <c>generate(num_beams, num_beam_groups, diversity_penalty, eos_token_id, max_new_tokens, ...)</c> for group beam search.</summary>
public sealed record GroupBeamSearchOptions
{
    public int NumBeams { get; init; } = 5;
    public int NumBeamGroups { get; init; } = 5;
    /// <summary>Hamming penalty: subtracted from a group's log-probs once per earlier group's pick of the token at this step.</summary>
    public double DiversityPenalty { get; init; } = 3.0;
    /// <summary>HF eos_token_id: a candidate with one of these ends its beam as a finished hypothesis.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = Array.Empty<int>();
    public int MaxNewTokens { get; init; } = 70;
    /// <summary>Scores are sum_logprobs / generated_len^length_penalty.</summary>
    public double LengthPenalty { get; init; } = 1.0;
    public EarlyStopping EarlyStopping { get; init; } = EarlyStopping.Heuristic;
    /// <summary>How many hypotheses to return per batch row (HF num_return_sequences); null = NumBeams.</summary>
    public int? NumReturnSequences { get; init; }
    /// <summary>Token fed for groups that are done (HF pad_token_id; it counts in the Hamming penalty). null = first stop id, as HF falls back.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>Also return a cache (context + generated tokens but the last) for every returned beam.</summary>
    public bool ReturnCaches { get; init; }
    /// <summary>
    /// Candidates kept per beam at each step (top-k = this x group_size): null = max(2, 1 + number of stop ids), HF's
    /// current rule, which always leaves a non-stop candidate; 2 = HF's older fixed 2 x group_size (identical with one stop id).
    /// </summary>
    public int? CandidatesPerBeam { get; init; }
    /// <summary>
    /// When set to a path other than Reference, each step's log-softmax + Hamming penalty + top-k runs through
    /// <c>Csr.Kernels.BeamStep</c> on that path (one pass over the logits per batch row), keeping the same candidates per
    /// beam as the plain TorchSharp ops. Reference runs the plain ops and counts them as the beam step's reference path in
    /// <c>Csr.Kernels.KernelStats</c>; null runs the plain ops uncounted.
    /// </summary>
    public Csr.Kernels.KernelPath? StepPath { get; init; }

    /// <summary>
    /// The beams of a batch row share its context's KV cache (read once per row by attention, not copied per beam and per
    /// step; <see cref="Csr.Models.Llama.KvCache.OverSharedPrefix"/>). Off: every beam holds a copy of the context, as HF
    /// does. Both compute the same attention up to float rounding.
    /// </summary>
    public bool SharePrefix { get; init; } = true;

    public int GroupSize => NumBeams / NumBeamGroups;
    public int ReturnCount => NumReturnSequences ?? NumBeams;

    public GroupBeamSearchOptions Validate()
    {
        if (NumBeams < 1) throw new ArgumentException($"num_beams must be >= 1, got {NumBeams}");
        if (NumBeamGroups < 1 || NumBeamGroups > NumBeams || NumBeams % NumBeamGroups != 0)
            throw new ArgumentException($"num_beam_groups ({NumBeamGroups}) must divide num_beams ({NumBeams})");
        if (DiversityPenalty < 0) throw new ArgumentException($"diversity_penalty must be >= 0, got {DiversityPenalty}");
        if (MaxNewTokens < 1) throw new ArgumentException($"max_new_tokens must be >= 1, got {MaxNewTokens}");
        if (CandidatesPerBeam is int c && c < 2) throw new ArgumentException($"candidates per beam must be >= 2, got {c}");
        if (ReturnCount < 1 || ReturnCount > NumBeams)
            throw new ArgumentException($"num_return_sequences ({ReturnCount}) must be in [1, num_beams={NumBeams}]");
        if ((PadTokenId ?? (StopTokenIds.Count > 0 ? StopTokenIds[0] : 0)) < 0) throw new ArgumentException("pad_token_id must be >= 0");
        return this;
    }
}
