namespace Csr.Train.World;

/// <summary>
/// Seeded scene generator. Scene <c>(stream, index)</c> is a pure function of the seed, the settings and
/// the vocabulary, so training, CSR prompts and evaluation draw disjoint scenes from separate streams.
/// Categories are drawn by popularity; each drawn category brings its companion with
/// <see cref="WorldSettings.CompanionRate"/> (the co-occurrence the language prior exploits).
/// </summary>
public sealed class SceneGenerator
{
    /// <summary>Stream of the scenes the base models are trained on.</summary>
    public const int TrainStream = 0;
    /// <summary>Stream of the scenes CSR samples on.</summary>
    public const int CsrStream = 1;
    /// <summary>Stream of the held-out scenes the metrics use.</summary>
    public const int EvalStream = 2;

    private static readonly double[] SizeRadius = [0.30, 0.42]; // small, large (fraction of a grid cell)

    public WorldVocabulary Vocabulary { get; }
    public WorldSettings Settings { get; }
    public int Seed { get; }

    public SceneGenerator(int seed, WorldSettings? settings = null, WorldVocabulary? vocabulary = null)
    {
        Seed = seed;
        Settings = settings ?? new WorldSettings();
        Settings.Validate();
        Vocabulary = vocabulary ?? WorldVocabulary.Default;
    }

    public Scene Generate(int index, int stream = TrainStream)
    {
        var rng = SplitMix64.For(Seed, stream, index);
        var shapes = Vocabulary.Shapes;
        int nSeed = rng.NextInclusive(Settings.MinSeedObjects, Math.Min(Settings.MaxSeedObjects, shapes.Count));

        var chosen = new List<int>();
        var weights = shapes.Select(s => s.Popularity).ToArray();
        for (int k = 0; k < nSeed; k++)
        {
            int i = rng.Weighted(weights);
            chosen.Add(i);
            weights[i] = 0; // without replacement
            if (weights.All(w => w == 0)) break;
        }
        foreach (int i in chosen.ToArray())
        {
            if (chosen.Count >= Settings.MaxObjects) break;
            if (!Vocabulary.Companion.TryGetValue(shapes[i].Name, out var comp)) continue;
            int c = Vocabulary.ShapeIndex(comp);
            if (!chosen.Contains(c) && rng.Chance(Settings.CompanionRate)) chosen.Add(c);
        }

        int cells = Settings.GridCells;
        var freeCells = Enumerable.Range(0, cells * cells).ToList();
        var placed = new List<WorldObject>();
        var colourOf = new Dictionary<int, string>();
        foreach (int i in chosen)
        {
            var colour = rng.Pick(Vocabulary.Colours).Name;
            if (Vocabulary.Companion.TryGetValue(shapes[i].Name, out var partner) && colourOf.TryGetValue(Vocabulary.ShapeIndex(partner), out var pc)
                && rng.Chance(Settings.CompanionSameColourRate))
                colour = pc;
            colourOf[i] = colour;
            int size = rng.Next(SizeRadius.Length);
            double rotation = rng.Uniform(-Settings.MaxRotation, Settings.MaxRotation);
            int k = rng.Next(freeCells.Count);
            int cell = freeCells[k];
            freeCells.RemoveAt(k);
            double cellSide = 1.0 / cells;
            double r = SizeRadius[size] * cellSide;
            double slack = Settings.PositionJitter * Math.Max(0, 0.5 * cellSide - r - 0.04 * cellSide);
            double x = (cell % cells + 0.5) * cellSide + rng.Uniform(-slack, slack);
            double y = (cell / cells + 0.5) * cellSide + rng.Uniform(-slack, slack);
            placed.Add(new WorldObject(shapes[i].Name, colour, Vocabulary.Sizes[size], x, y, r, rotation));
        }
        placed.Sort((a, b) => Vocabulary.ShapeIndex(a.Shape).CompareTo(Vocabulary.ShapeIndex(b.Shape)));

        var texture = rng.Pick(Vocabulary.Textures);
        int tone = rng.Next(4);
        return new Scene($"w{Seed}-{stream}-{index:D5}", index, placed, texture, tone);
    }

    /// <summary>Scenes <c>0..count-1</c> of a stream.</summary>
    public IEnumerable<Scene> GenerateMany(int count, int stream = TrainStream)
    {
        for (int i = 0; i < count; i++) yield return Generate(i, stream);
    }
}
