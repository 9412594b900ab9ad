using Csr.Train.World.Training;

namespace Csr.Train.World;

/// <summary>Options of the embedded default run (<c>csr-train</c> with no verb).</summary>
public sealed record WorldDemoOptions
{
    public required string OutDir { get; init; }
    /// <summary>Base-model cache root (models are keyed by a hash of every setting below that shapes them).</summary>
    public required string CacheDir { get; init; }
    /// <summary>Where evaluation and the CSR rounds compute. The base models are built on the CPU (tiny, cached, the same
    /// files whatever the device) and loaded onto it.</summary>
    public TorchSharp.torch.Device Device { get; init; } = TorchSharp.torch.CPU;
    public int Seed { get; init; } = 1;
    public int Rounds { get; init; } = 3;
    /// <summary>CSR prompts (scenes of the CSR stream) per round.</summary>
    public int Prompts { get; init; } = 96;
    /// <summary>Held-out scenes for CHAIR and POPE: at 500 a CHAIR_S near 20% has a standard error of about 1.8 points
    /// (2.8 at 200), small enough to tell the two arms apart.</summary>
    public int EvalScenes { get; init; } = 500;
    public double Alpha { get; init; } = 0.9;
    public bool Fused { get; init; }
    /// <summary>Skip the alpha = 0 ablation arm.</summary>
    public bool NoAblation { get; init; }
    /// <summary>Torch threads for evaluation and the CSR rounds, set after the base models are built (null: leave as is).
    /// The world's models are so small that per-op threading costs more than it gives: seed 2's cached run took
    /// 316 s at 1 thread and 488 s at 2 on the 2-core machine (sampling 101 vs 185 s per arm).</summary>
    public int? CsrThreads { get; init; }
    public int MaxNewTokens { get; init; } = 48;
    public WorldSettings World { get; init; } = new();
    public WorldModelSettings Models { get; init; } = new();

    // CSR stage settings for tiny models (the official 7B values do not move a model this small); docs/world.md has the
    // search over them and the official settings' figures
    public int NumBeams { get; init; } = 5;
    /// <summary>Diverse beam search's penalty (official 3.0). The world's LLaVA is so sure of its next token that at 3.0
    /// the later beam groups write broken sentences ("There orange diamond."), in about half the rejected answers: DPO
    /// then spends itself on text the model never writes. At 1.5 the alternatives stay fluent; with
    /// <see cref="MaxAnswerTokens"/> it met the demo's checks on 5 of 7 seeds, the official settings on 3 (docs/world.md).</summary>
    public double DiversityPenalty { get; init; } = 1.5;
    /// <summary>Score sentences by the truth of the scene (a sentence naming an absent shape scores 100 below its CLIP
    /// score) instead of by the CLIP alone: a diagnostic of what a perfect judge would give, never a result.</summary>
    public bool TruthJudge { get; init; }
    /// <summary>A tree's answers end at this many tokens, the evaluation's answer budget (<see cref="MaxNewTokens"/>); null
    /// leaves only the official bound, 1024 characters of text. A scene has at most 4 objects, about 28 tokens; without
    /// the cap the worst paths looped ("There is a blue diamond." ten times) up to the official bound, and DPO learned from
    /// those rejected answers mostly to stop early.</summary>
    public int? MaxAnswerTokens { get; init; } = 48;
    /// <summary>Divide a path's value by its sentences instead of the official node count including the root
    /// (<see cref="Csr.Train.Pipeline.ConstructOptions.MeanOverSentences"/>).</summary>
    public bool PathMeanOverSentences { get; init; }
    public double DpoLearningRate { get; init; } = 1e-3;
    public double DpoProjectorLearningRate { get; init; } = 1e-4;
    public double DpoBeta { get; init; } = 0.5;
    public int LoraR { get; init; } = 16;
    public double LoraAlpha { get; init; } = 32;
    public int DpoEpochs { get; init; } = 3;
    public int DpoBatchSize { get; init; } = 4;

    // LLaVA's image_aspect_ratio per stage, as the official scripts ("pad" or "none"; the world's scenes are square,
    // so the modes differ only in name here)
    public string SampleImageAspectRatio { get; init; } = "none";
    public string DpoImageAspectRatio { get; init; } = "pad";
    public string EvalImageAspectRatio { get; init; } = "pad";
}
