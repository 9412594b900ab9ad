namespace Csr.Models.Generation;

/// <summary>
/// The n-best list of finished hypotheses of one (batch row, beam group), as HF's BeamHypotheses:
/// score = sum_logprobs / generated_len^length_penalty; keeps the best <c>capacity</c>; worst_score tracks the
/// eviction threshold exactly as HF (including its initial 1e9).
/// </summary>
public sealed class BeamHypotheses
{
    private readonly int _capacity;
    private readonly double _lengthPenalty;
    private readonly EarlyStopping _early;
    private readonly int _maxNewTokens;
    private readonly List<(double Score, int[] Tokens, bool Stopped, double TokenLogProbSum)> _beams = new();

    public BeamHypotheses(int capacity, double lengthPenalty, EarlyStopping early, int maxNewTokens)
    {
        _capacity = capacity;
        _lengthPenalty = lengthPenalty;
        _early = early;
        _maxNewTokens = maxNewTokens;
    }

    public double WorstScore { get; private set; } = 1e9;
    public int Count => _beams.Count;
    /// <summary>Kept hypotheses in insertion order (HF list order).</summary>
    public IReadOnlyList<(double Score, int[] Tokens, bool Stopped, double TokenLogProbSum)> Beams => _beams;

    /// <param name="tokens">generated tokens (the stop token included when <paramref name="stopped"/>)</param>
    /// <param name="sumLogprobs">the beam score (sum of processed log-probs)</param>
    /// <param name="generatedLen">HF generated_len: new tokens including the stop token</param>
    /// <param name="tokenLogProbSum">sum of the tokens' own log-probs (no diversity penalty, no length normalisation); kept alongside</param>
    public void Add(int[] tokens, double sumLogprobs, int generatedLen, bool stopped, double tokenLogProbSum = double.NaN)
    {
        double score = sumLogprobs / Math.Pow(generatedLen, _lengthPenalty);
        if (_beams.Count < _capacity || score > WorstScore)
        {
            _beams.Add((score, tokens, stopped, tokenLogProbSum));
            if (_beams.Count > _capacity)
            {
                // sorted [(s, idx)]: ascending by score, then index
                var sorted = _beams.Select((b, i) => (b.Score, i)).OrderBy(x => x.Score).ThenBy(x => x.i).ToList();
                _beams.RemoveAt(sorted[0].i);
                WorstScore = sorted[1].Score;
            }
            else
            {
                WorstScore = Math.Min(score, WorstScore);
            }
        }
    }

    /// <summary>HF is_done(best_sum_logprobs, cur_len) with cur_len - prompt_len = <paramref name="generatedLen"/>.</summary>
    public bool IsDone(double bestSumLogprobs, int generatedLen)
    {
        if (_beams.Count < _capacity) return false;
        switch (_early)
        {
            case EarlyStopping.True: return true;
            case EarlyStopping.Heuristic:
                return WorstScore >= bestSumLogprobs / Math.Pow(generatedLen, _lengthPenalty);
            default:
                double highest = _lengthPenalty > 0
                    ? bestSumLogprobs / Math.Pow(_maxNewTokens, _lengthPenalty)
                    : bestSumLogprobs / Math.Pow(generatedLen, _lengthPenalty);
                return WorstScore >= highest;
        }
    }
}
