using System.Text.Json.Serialization;

namespace Csr.Train.Dpo;

/// <summary>One optimizer step, logged as a JSONL line with TRL's metric names.</summary>
public sealed record DpoStepLog(
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("epoch")] double Epoch,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("rewards/chosen")] double RewardsChosen,
    [property: JsonPropertyName("rewards/rejected")] double RewardsRejected,
    [property: JsonPropertyName("rewards/accuracies")] double RewardsAccuracies,
    [property: JsonPropertyName("rewards/margins")] double RewardsMargins,
    [property: JsonPropertyName("logps/chosen")] double LogpsChosen,
    [property: JsonPropertyName("logps/rejected")] double LogpsRejected,
    [property: JsonPropertyName("learning_rate")] double LearningRate,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("seconds")] double Seconds);
