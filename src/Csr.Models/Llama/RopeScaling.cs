using System.Text.Json.Serialization;

namespace Csr.Models.Llama;

/// <summary>
/// HF <c>rope_scaling</c> object. <c>type</c> (older configs) and <c>rope_type</c> (newer) are both read;
/// supported kinds: "default", "linear", "dynamic", "llama3".
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("factor")] public double? Factor { get; init; }
    // llama3 only
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }

    /// <summary>The effective kind: rope_type if present, else type, else "default".</summary>
    [JsonIgnore] public string Kind => (RopeType ?? Type ?? "default").ToLowerInvariant();
}
