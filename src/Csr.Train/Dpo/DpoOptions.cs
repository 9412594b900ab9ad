using Csr.Kernels;

namespace Csr.Train.Dpo;

/// <summary>DPO options; defaults follow the official scripts/run_train.sh (TRL semantics).</summary>
public sealed record DpoOptions
{
    public double Beta { get; init; } = 0.1;
    public DpoLossType Loss { get; init; } = DpoLossType.Sigmoid;
    /// <summary>LoRA learning rate (official 1e-7; tiny models need far more).</summary>
    public double LearningRate { get; init; } = 1e-7;
    /// <summary>Projector learning rate (mm_projector_lr).</summary>
    public double ProjectorLearningRate { get; init; } = 2e-5;
    public double WarmupRatio { get; init; } = 0.03;
    public double WeightDecay { get; init; } = 0.0;
    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 1;
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Global gradient-norm clip (HF default 1.0); 0 disables.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Checkpoint every N optimizer steps (0 = only at the end).</summary>
    public int SaveSteps { get; init; } = 100;
    public int LoraR { get; init; } = 128;
    public double LoraAlpha { get; init; } = 256;
    public double LoraDropout { get; init; } = 0.05;
    public long Seed { get; init; } = 42;
    /// <summary>Use Csr.Kernels' fused DPO log-ratio path.</summary>
    public bool Fused { get; init; }
    /// <summary>Stop after this many optimizer steps (for tests and benchmarks; null = all).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>LLaVA's image_aspect_ratio for the training images: "pad" as the official training
    /// (<c>--image_aspect_ratio pad</c>) or "none".</summary>
    public string ImageAspectRatio { get; init; } = "pad";

    public void Validate()
    {
        if (Beta <= 0) throw new ArgumentException($"--beta {Beta}: must be > 0");
        if (LearningRate < 0 || ProjectorLearningRate < 0) throw new ArgumentException("learning rates must be >= 0");
        if (WarmupRatio is < 0 or > 1) throw new ArgumentException($"--warmup-ratio {WarmupRatio}: must be in [0, 1]");
        if (Epochs < 1 || BatchSize < 1 || GradientAccumulation < 1) throw new ArgumentException("--epochs, --batch-size and --grad-accum must be >= 1");
        if (SaveSteps < 0) throw new ArgumentException($"--save-steps {SaveSteps}: must be >= 0");
        if (LoraR < 1) throw new ArgumentException($"--lora-r {LoraR}: must be >= 1");
        if (LoraDropout is < 0 or >= 1) throw new ArgumentException($"--lora-dropout {LoraDropout}: must be in [0, 1)");
        if (!Csr.Models.Vision.ImageProcessorConfig.AspectRatioModes.Contains(ImageAspectRatio))
            throw new ArgumentException($"--image-aspect-ratio '{ImageAspectRatio}': expected pad or none");
    }
}
