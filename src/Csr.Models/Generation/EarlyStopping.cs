namespace Csr.Models.Generation;

/// <summary>HF <c>early_stopping</c> for beam search.</summary>
public enum EarlyStopping
{
    /// <summary>HF default (False): a group is done when its worst kept hypothesis beats best_running_sum / current_length.</summary>
    Heuristic,
    /// <summary>True: done as soon as a group holds group_size finished hypotheses.</summary>
    True,
    /// <summary>"never": done only when no better hypothesis is possible (bound with max length for length_penalty &gt; 0).</summary>
    Never,
}
