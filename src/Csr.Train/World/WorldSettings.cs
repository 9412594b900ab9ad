namespace Csr.Train.World;

/// <summary>Settings of the scene generator and of its language prior. Part of the base-model cache key.</summary>
public sealed record WorldSettings
{
    /// <summary>Image side in pixels (square). 64 px with patch 8 gives the tiny ViT 64 patches.</summary>
    public int ImageSize { get; init; } = 64;
    public int MinSeedObjects { get; init; } = 1;
    public int MaxSeedObjects { get; init; } = 2;
    /// <summary>Most objects in one scene (after companions are added).</summary>
    public int MaxObjects { get; init; } = 4;
    /// <summary>P(companion present | category present) for categories drawn first.</summary>
    public double CompanionRate { get; init; } = 0.7;
    /// <summary>Share of training captions, for each present object whose companion is absent, that
    /// name the absent companion anyway (the language prior that causes hallucination).</summary>
    public double HallucinationRate { get; init; } = 0.5;
    /// <summary>Share of object mentions in training captions that use a synonym ("ball" for "circle").</summary>
    public double SynonymRate { get; init; } = 0.1;

    public void Validate()
    {
        if (ImageSize < 16 || ImageSize > 1024) throw new ArgumentException($"ImageSize {ImageSize} must be in [16, 1024]");
        if (MinSeedObjects < 1 || MaxSeedObjects < MinSeedObjects) throw new ArgumentException($"seed objects [{MinSeedObjects}, {MaxSeedObjects}] is not a valid range");
        if (MaxObjects < MaxSeedObjects) throw new ArgumentException($"MaxObjects {MaxObjects} < MaxSeedObjects {MaxSeedObjects}");
        foreach (var (name, p) in new[] { ("CompanionRate", CompanionRate), ("HallucinationRate", HallucinationRate), ("SynonymRate", SynonymRate) })
            if (p < 0 || p > 1) throw new ArgumentException($"{name} {p} must be in [0, 1]");
    }

    /// <summary>A stable text of every setting, for cache keys.</summary>
    public string Fingerprint() =>
        FormattableString.Invariant($"world-v1;size={ImageSize};seed={MinSeedObjects}-{MaxSeedObjects};max={MaxObjects};co={CompanionRate};hal={HallucinationRate};syn={SynonymRate}");
}
