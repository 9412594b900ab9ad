using System.Text.Json.Serialization;

namespace Csr.Train.Report;

/// <summary>POPE metrics of one split, in percent.</summary>
public sealed record PopeSplitReport(
    [property: JsonPropertyName("acc")] double Acc,
    [property: JsonPropertyName("precision")] double Precision,
    [property: JsonPropertyName("recall")] double Recall,
    [property: JsonPropertyName("f1")] double F1,
    [property: JsonPropertyName("yes_ratio")] double YesRatio)
{
    public static PopeSplitReport From(Eval.PopeMetrics m) =>
        new(100 * m.Accuracy, 100 * m.Precision, 100 * m.Recall, 100 * m.F1, 100 * m.YesRatio);
}

/// <summary>Metrics after one round (round 0 = the base model), in percent.</summary>
public sealed record RoundReport(
    [property: JsonPropertyName("round")] int Round,
    [property: JsonPropertyName("chair_s")] double ChairS,
    [property: JsonPropertyName("chair_i")] double ChairI,
    [property: JsonPropertyName("pope")] IReadOnlyDictionary<string, PopeSplitReport> Pope)
{
    /// <summary>Object coverage of the descriptions (ground-truth objects mentioned), percent; null in old reports.</summary>
    [JsonPropertyName("coverage")] public double? Coverage { get; init; }
    /// <summary>Mean object mentions per description.</summary>
    [JsonPropertyName("objects_per_caption")] public double? ObjectsPerCaption { get; init; }
}

/// <summary>One arm of the experiment: CSR with a given alpha (alpha = 0 is the ablation without the CLIP term).</summary>
public sealed record ArmReport(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("alpha")] double Alpha,
    [property: JsonPropertyName("rounds")] IReadOnlyList<RoundReport> Rounds)
{
    /// <summary>Why the arm stopped before its last round (null when it ran every round).</summary>
    [JsonPropertyName("error")] public string? Error { get; init; }
}

/// <summary>A chosen / rejected pair built by the construct stage, for the report.</summary>
public sealed record ExamplePair(
    [property: JsonPropertyName("arm")] string Arm,
    [property: JsonPropertyName("round")] int Round,
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("chosen")] string Chosen,
    [property: JsonPropertyName("rejected")] string Rejected,
    [property: JsonPropertyName("ground_truth")] IReadOnlyList<string> GroundTruth);

/// <summary>Everything report.json holds. Metric values are percentages (0-100).</summary>
public sealed record ReportData(
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("arms")] IReadOnlyList<ArmReport> Arms,
    [property: JsonPropertyName("examples")] IReadOnlyList<ExamplePair> Examples)
{
    [JsonPropertyName("units")] public string Units { get; init; } = "percent";
    [JsonPropertyName("settings")] public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
    [JsonPropertyName("timings_s")] public IReadOnlyDictionary<string, double> TimingsSeconds { get; init; } = new Dictionary<string, double>();
    [JsonPropertyName("notes")] public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>Csr.Kernels ops the CSR rounds ran, one line per op (paths, calls, seconds, fallbacks), from the arms' kernels.json.</summary>
    [JsonPropertyName("kernels")] public IReadOnlyList<string> Kernels { get; init; } = [];
}
