namespace Csr.Train.World;

/// <summary>Settings of the scene generator and of its language prior. Part of the base-model cache key.</summary>
public sealed record WorldSettings
{
    /// <summary>Image side in pixels (square).</summary>
    public int ImageSize { get; init; } = 96;
    /// <summary>Objects sit in distinct cells of a GridCells x GridCells grid (with jitter), so a ViT whose patch
    /// is one cell (ImageSize / GridCells) sees each object whole in one patch: 96 px, 4 x 4, patch 24.</summary>
    public int GridCells { get; init; } = 4;
    /// <summary>How far an object may move off its cell centre, as a share of the free room in the cell (0 = centred).</summary>
    public double PositionJitter { get; init; } = 0.25;
    /// <summary>Largest rotation of an object, in degrees (either way).</summary>
    public double MaxRotation { get; init; } = 0.0;
    public int MinSeedObjects { get; init; } = 1;
    public int MaxSeedObjects { get; init; } = 2;
    /// <summary>Most objects in one scene (after companions are added).</summary>
    public int MaxObjects { get; init; } = 4;
    /// <summary>P(companion present | category present) for categories drawn first.</summary>
    public double CompanionRate { get; init; } = 0.7;
    /// <summary>Share of training captions, for each present object whose companion is absent, that
    /// name the absent companion anyway (the language prior that causes hallucination). At 0.6 the
    /// base models rarely ended an answer after the objects present, so on seed 3 no sampled path was free of
    /// hallucination in a quarter of CSR's trees and CSR left CHAIR_S unchanged (36.0 -> 36.0); at 0.5 every seed's
    /// CHAIR_S falls by at least 30% and below the ablation's (README).</summary>
    public double HallucinationRate { get; init; } = 0.5;
    /// <summary>P(a companion has its partner's colour) when both are in a scene; a named-but-absent companion
    /// always gets its partner's colour (so the colour word does not give the hallucination away).</summary>
    public double CompanionSameColourRate { get; init; } = 0.7;
    /// <summary>Share of object mentions in training captions that use a synonym ("ball" for "circle").</summary>
    public double SynonymRate { get; init; } = 0.1;

    public void Validate()
    {
        if (ImageSize < 16 || ImageSize > 1024) throw new ArgumentException($"ImageSize {ImageSize} must be in [16, 1024]");
        if (MinSeedObjects < 1 || MaxSeedObjects < MinSeedObjects) throw new ArgumentException($"seed objects [{MinSeedObjects}, {MaxSeedObjects}] is not a valid range");
        if (GridCells < 2 || GridCells * GridCells < MaxObjects) throw new ArgumentException($"GridCells {GridCells} must be >= 2 and hold MaxObjects {MaxObjects}");
        if (ImageSize % GridCells != 0) throw new ArgumentException($"ImageSize {ImageSize} must be a multiple of GridCells {GridCells}");
        if (MaxObjects < MaxSeedObjects) throw new ArgumentException($"MaxObjects {MaxObjects} < MaxSeedObjects {MaxSeedObjects}");
        foreach (var (name, p) in new[] { ("CompanionRate", CompanionRate), ("HallucinationRate", HallucinationRate), ("SynonymRate", SynonymRate), ("CompanionSameColourRate", CompanionSameColourRate), ("PositionJitter", PositionJitter) })
            if (p < 0 || p > 1) throw new ArgumentException($"{name} {p} must be in [0, 1]");
    }

    /// <summary>A stable text of every setting, for cache keys.</summary>
    public string Fingerprint() =>
        FormattableString.Invariant($"world-v2;size={ImageSize};grid={GridCells};jit={PositionJitter};rot={MaxRotation};seed={MinSeedObjects}-{MaxSeedObjects};max={MaxObjects};co={CompanionRate};same={CompanionSameColourRate};hal={HallucinationRate};syn={SynonymRate}");
}
