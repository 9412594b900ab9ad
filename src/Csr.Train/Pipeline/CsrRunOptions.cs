using Csr.Train.Dpo;
using Csr.Train.Sampling;
using static TorchSharp.torch;

namespace Csr.Train.Pipeline;

/// <summary>Options of a multi-round CSR run (sample -> score -> construct -> dpo -> merge, N times).</summary>
public sealed record CsrRunOptions
{
    public required string OutDir { get; init; }
    public int Iterations { get; init; } = 3;
    public SampleOptions Sample { get; init; } = new();
    public ConstructOptions Construct { get; init; } = new();
    public DpoOptions Dpo { get; init; } = new();
    public PromptTemplate Template { get; init; } = PromptTemplate.Default;
    public required ImagePathRule Images { get; init; }
    /// <summary>Use the first N prompts of the file.</summary>
    public int? Limit { get; init; }
    public long Seed { get; init; } = 42;
    /// <summary>Prompts per CLIP scoring batch.</summary>
    public int ScoreBatch { get; init; } = DefaultScoreBatch;

    /// <summary>Prompts per CLIP scoring batch when --batch-prompts is not given.</summary>
    public const int DefaultScoreBatch = 8;
    /// <summary>DPO max sequence length (tokens).</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>dtype used when a round's merged model is loaded back from disk.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>LLaVA's image_aspect_ratio in the sample stage ("none" as the official sample.py, or "pad"); the DPO
    /// stage's is <see cref="DpoOptions.ImageAspectRatio"/>.</summary>
    public string SampleImageAspectRatio { get; init; } = "none";
    /// <summary>Where each round's model is loaded (the first round's comes in loaded).</summary>
    public Device Device { get; init; } = CPU;

    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"--iterations {Iterations}: must be >= 1");
        if (Limit is < 1) throw new ArgumentException($"--limit {Limit}: must be >= 1");
        if (!Csr.Models.Vision.ImageProcessorConfig.AspectRatioModes.Contains(SampleImageAspectRatio))
            throw new ArgumentException($"--sample-image-aspect-ratio '{SampleImageAspectRatio}': expected pad or none");
        Sample.Validate();
        Construct.Validate();
        Dpo.Validate();
    }

    public static string RoundDir(string outDir, int round) => Path.Combine(outDir, $"round-{round}");
}
