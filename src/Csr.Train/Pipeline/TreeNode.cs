using System.Text.Json.Serialization;

namespace Csr.Train.Pipeline;

/// <summary>
/// A node of the sentence-level beam search tree. File contract (<c>&lt;out&gt;/&lt;id&gt;.json</c> holds the root):
/// <c>{"text", "new_text", "score", "clip_score", "is_final", "children": [...]}</c>, optionally "num_tokens" and
/// "token_logprob_sum".
/// </summary>
public sealed class TreeNode
{
    /// <summary>Full prompt + answer so far (the root holds the prompt text).</summary>
    [JsonPropertyName("text")] public string Text { get; set; } = "";

    /// <summary>The sentence this node added (empty for the root).</summary>
    [JsonPropertyName("new_text")] public string NewText { get; set; } = "";

    /// <summary>Cumulative LM score: parent score + this step's HF sequences_score (sum log-probs / length).</summary>
    [JsonPropertyName("score")] public double Score { get; set; }

    /// <summary>CLIP logits_per_image of <see cref="NewText"/> vs the image; null until the score stage ran (and for the root).</summary>
    [JsonPropertyName("clip_score")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? ClipScore { get; set; }

    /// <summary>True when the step produced EOS or the text reached max_length.</summary>
    [JsonPropertyName("is_final")] public bool IsFinal { get; set; }

    /// <summary>Number of tokens generated in this step (lets the paper reward recover the sentence probability). Optional.</summary>
    [JsonPropertyName("num_tokens")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? NumTokens { get; set; }

    /// <summary>
    /// Sum of the log-probs of the tokens generated in this step under the sampling model (no diversity penalty, no
    /// length normalisation): the log of the sentence's probability, which the paper reward needs. Optional (trees
    /// written before it was recorded lack it).
    /// </summary>
    [JsonPropertyName("token_logprob_sum")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TokenLogProbSum { get; set; }

    [JsonPropertyName("children")] public List<TreeNode> Children { get; set; } = new();

    /// <summary>This step's own sequence score (node score minus parent score).</summary>
    public double StepScore(TreeNode parent) => Score - parent.Score;

    public IEnumerable<TreeNode> DescendantsAndSelf()
    {
        yield return this;
        foreach (var c in Children)
            foreach (var d in c.DescendantsAndSelf()) yield return d;
    }

    public TreeNode DeepClone() => new()
    {
        Text = Text, NewText = NewText, Score = Score, ClipScore = ClipScore, IsFinal = IsFinal, NumTokens = NumTokens, TokenLogProbSum = TokenLogProbSum,
        Children = Children.Select(c => c.DeepClone()).ToList(),
    };
}
