namespace Csr.Train.World.Training;

/// <summary>Sizes and training budgets of the world's tiny CLIP and tiny LLaVA. Part of the base-model cache key.</summary>
public sealed record WorldModelSettings
{
    /// <summary>Training scenes (train stream) both models learn from.</summary>
    public int TrainScenes { get; init; } = 4000;

    // CLIP: vision tower (also LLaVA's), text tower, projection
    public int VisionHidden { get; init; } = 64;
    public int VisionLayers { get; init; } = 3;
    public int VisionHeads { get; init; } = 4;
    public int ClipTextHidden { get; init; } = 64;
    public int ClipTextLayers { get; init; } = 2;
    public int ClipProjection { get; init; } = 64;
    public int ClipSteps { get; init; } = 600;
    public int ClipBatch { get; init; } = 64;
    public double ClipLr { get; init; } = 2e-3;
    /// <summary>Auxiliary CLIP loss: every patch predicts the set of shapes in the whole image (off: it did not speed up
    /// the LLaVA's learning of yes/no probes, 0.67 vs 0.69 teacher-forced accuracy after 1500 probe-only steps).</summary>
    public bool PresenceAux { get; init; }
    // The scorer: the CLIP above (whose vision tower LLaVA gets) tuned further for CSR's sentence scoring
    /// <summary>Steps of tuning a copy of the CLIP into the CSR scorer (0 = score with the CLIP as trained above). The LLaVA
    /// keeps the untuned vision tower either way: training the CLIP itself with the scorer's recipe built LLaVAs that answered
    /// every yes/no probe alike (2 seeds of 2). The tuned copy ranks a true sentence above its same-colour absent companion in
    /// 94-99% of held-out comparisons on seeds 1-5 (the CLIP as trained: 77-87%), which the demo's CHAIR_S drop needs
    /// (docs/world.md).</summary>
    public int ScorerSteps { get; init; } = 2000;
    public double ScorerLr { get; init; } = 1e-3;
    /// <summary>Share of scorer-tuning sentences that name their object by a synonym ("ball" for "circle"). The LLaVA says
    /// synonyms too, and a CLIP that never saw them scored "a blue disk" below a hallucinated "a blue square".</summary>
    public double ScorerSynonymRate { get; init; } = 0.3;
    /// <summary>P(an absent-object negative sentence takes the colour of the image's true object) while tuning the scorer.
    /// Hallucinated companions always carry their partner's colour, so the scorer must tell them apart by shape alone.</summary>
    public double ScorerSameColourNegatives { get; init; } = 0.8;
    /// <summary>Weight of a logistic loss on each image's true sentence against its own absent-object sentence (scorer tuning).</summary>
    public double ScorerPairLoss { get; init; } = 1.0;
    /// <summary>P(a scorer-tuning negative names the image's own shape in a colour no object of that shape has): colour
    /// binding, which the contrastive CLIP lacks (it scored "a yellow square" above the true "a green square" beside a yellow circle).</summary>
    public double ScorerBindingNegatives { get; init; } = 0.5;
    /// <summary>Keep the vision tower fixed while tuning the scorer (only the text tower and the projections learn).</summary>
    public bool ScorerFreezeVision { get; init; }

    // LLaVA language model
    public int LmHidden { get; init; } = 128;
    public int LmLayers { get; init; } = 2;
    public int LmHeads { get; init; } = 4;
    public int LmIntermediate { get; init; } = 256;
    public int LlavaSteps { get; init; } = 1200;
    public int LlavaBatch { get; init; } = 32;
    public double LlavaLr { get; init; } = 3e-3;
    /// <summary>Share of LLaVA training examples that are yes/no probes (the rest are descriptions).</summary>
    public double ProbeShare { get; init; } = 0.5;
    /// <summary>Yes/no questions per probe conversation (multi-turn, as LLaVA's instruction data); the first turn is the
    /// POPE format, the later ones add probe supervision at little cost.</summary>
    public int ProbeTurns { get; init; } = 3;
    /// <summary>Average the loss per example, then over the batch (instead of over all answer tokens), so the short
    /// yes/no answers weigh as much as the long descriptions.</summary>
    public bool ExampleMeanLoss { get; init; }
    /// <summary>Weight of an auxiliary training loss: a logistic read-out, at each probe's object word, of whether that object
    /// is in the image (the head is not part of the saved model).</summary>
    public double ObjectWordAux { get; init; } = 1.0;
    /// <summary>Standard deviation of the normal init of the language model's and the projector's weights (HF's
    /// initializer_range is 0.02).</summary>
    public double LmInitStd { get; init; } = 0.1;

    /// <summary>Small settings for tests (seconds, not minutes).</summary>
    public static WorldModelSettings Tiny => new()
    {
        TrainScenes = 64, VisionHidden = 32, VisionLayers = 1, VisionHeads = 2, ClipTextHidden = 32, ClipTextLayers = 1,
        ClipProjection = 16, ClipSteps = 3, ClipBatch = 8, ScorerSteps = 2, LmHidden = 32, LmLayers = 1, LmHeads = 2, LmIntermediate = 64,
        LlavaSteps = 120, LlavaBatch = 8, LlavaLr = 1e-2, ProbeShare = 0.2,
    };

    public void Validate()
    {
        foreach (var (name, v) in new[] { ("TrainScenes", TrainScenes), ("VisionHidden", VisionHidden), ("VisionLayers", VisionLayers),
                     ("ClipSteps", ClipSteps), ("ClipBatch", ClipBatch), ("LmHidden", LmHidden), ("LmLayers", LmLayers),
                     ("LlavaSteps", LlavaSteps), ("LlavaBatch", LlavaBatch), ("ProbeTurns", ProbeTurns) })
            if (v <= 0) throw new ArgumentException($"{name} must be positive, got {v}");
        if (VisionHidden % VisionHeads != 0) throw new ArgumentException($"VisionHidden {VisionHidden} is not divisible by VisionHeads {VisionHeads}");
        if (ScorerSteps < 0) throw new ArgumentException($"ScorerSteps must be >= 0, got {ScorerSteps}");
        foreach (var (name, p) in new[] { ("ScorerSynonymRate", ScorerSynonymRate), ("ScorerSameColourNegatives", ScorerSameColourNegatives), ("ScorerBindingNegatives", ScorerBindingNegatives), ("ProbeShare", ProbeShare) })
            if (p < 0 || p > 1) throw new ArgumentException($"{name} {p} must be in [0, 1]");
        if (LmHidden % LmHeads != 0) throw new ArgumentException($"LmHidden {LmHidden} is not divisible by LmHeads {LmHeads}");
    }

    /// <summary>The LLaVA's cache key text: every setting but the scorer's (the LLaVA never sees the tuned scorer);
    /// settings added after the first caches were written are left out while at their defaults, so those caches stay valid.</summary>
    public string Fingerprint()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(this))!.AsObject();
        foreach (var scorerOnly in new[] { nameof(ScorerSteps), nameof(ScorerLr), nameof(ScorerSynonymRate), nameof(ScorerSameColourNegatives), nameof(ScorerPairLoss), nameof(ScorerFreezeVision), nameof(ScorerBindingNegatives) })
            node.Remove(scorerOnly);
        if (ProbeTurns == 1) node.Remove(nameof(ProbeTurns));
        if (ObjectWordAux == 0) node.Remove(nameof(ObjectWordAux));
        if (LmInitStd == 0.02) node.Remove(nameof(LmInitStd));
        return node.ToJsonString();
    }

    /// <summary>The settings that shape the CLIP alone (its cache key: changing the LLaVA's settings keeps the CLIP).</summary>
    public string ClipFingerprint() => System.Text.Json.JsonSerializer.Serialize(new
    {
        TrainScenes, VisionHidden, VisionLayers, VisionHeads, ClipTextHidden, ClipTextLayers, ClipProjection, ClipSteps, ClipBatch, ClipLr, PresenceAux,
    });

    /// <summary>The settings of the scorer tuning (with <see cref="ClipFingerprint"/>, the scorer's cache key).</summary>
    public string ScorerFingerprint() => System.Text.Json.JsonSerializer.Serialize(new
    {
        ScorerSteps, ScorerLr, ScorerSynonymRate, ScorerSameColourNegatives, ScorerPairLoss, ScorerFreezeVision, ScorerBindingNegatives,
    });
}
