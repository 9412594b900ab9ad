namespace Csr.Train.Pipeline;

/// <summary>How construct turns a scored tree into a chosen / rejected pair.</summary>
public enum RewardRule
{
    /// <summary>Official utils.Rank_Node + construct.py: sibling ranks, (1-alpha)*rank + alpha*clip_rank, path mean, smallest = chosen.</summary>
    Rank,
    /// <summary>Paper: R(s) = lambda*max(clip,0) + (1-lambda)*prod(token probs), path sum, largest = chosen.</summary>
    Paper,
}
