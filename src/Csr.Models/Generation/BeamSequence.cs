namespace Csr.Models.Generation;

/// <summary>
/// One returned hypothesis: the generated ids (ending with the stop token that finished it, when <see cref="Stopped"/>),
/// HF's sequences_scores value (<see cref="Score"/>: sum of processed log-probs, diversity penalties included,
/// divided by generated_len^length_penalty), and <see cref="TokenLogProbSum"/>: the sum of the generated tokens' own
/// log-probs (log of the sequence's probability under the model: no diversity penalty, no length normalisation).
/// Note: HF's <c>sequences</c> writes eos_token_id[0] after a finished hypothesis whatever stop id ended it;
/// here the actual stop id is kept.
/// </summary>
public sealed record BeamSequence(int[] Tokens, double Score, bool Stopped, double TokenLogProbSum = double.NaN)
{
    /// <summary>sequences_scores as HF stores it (fp32).</summary>
    public float ScoreF32 => (float)Score;
}
