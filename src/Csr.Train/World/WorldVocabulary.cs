namespace Csr.Train.World;

/// <summary>
/// The words and things of the world: object categories (shapes) with synonyms, colours, sizes,
/// background textures, and the companion pairs that make the language prior (objects that usually
/// come together, as "fork" and "knife" do in COCO).
/// </summary>
public sealed class WorldVocabulary
{
    public IReadOnlyList<WorldShape> Shapes { get; }
    public IReadOnlyList<WorldColour> Colours { get; }
    public IReadOnlyList<string> Sizes { get; } = ["small", "large"];
    public IReadOnlyList<string> Textures { get; } = ["plain", "stripes", "dots", "checker", "grain"];

    /// <summary>Companion of each category (symmetric): a scene with one usually has the other too.</summary>
    public IReadOnlyDictionary<string, string> Companion { get; }

    public WorldVocabulary(IReadOnlyList<WorldShape> shapes, IReadOnlyList<WorldColour> colours, IReadOnlyList<(string A, string B)> pairs)
    {
        if (shapes.Count < 2) throw new ArgumentException("the world needs at least two shapes", nameof(shapes));
        if (colours.Count < 1) throw new ArgumentException("the world needs at least one colour", nameof(colours));
        if (shapes.Select(s => s.Name).Distinct().Count() != shapes.Count) throw new ArgumentException("shape names must be unique", nameof(shapes));
        Shapes = shapes;
        Colours = colours;
        var companion = new Dictionary<string, string>();
        foreach (var (a, b) in pairs)
        {
            if (ShapeIndex(a) < 0 || ShapeIndex(b) < 0) throw new ArgumentException($"companion pair ({a}, {b}) names an unknown shape", nameof(pairs));
            if (!companion.TryAdd(a, b) || !companion.TryAdd(b, a)) throw new ArgumentException($"shape in pair ({a}, {b}) already has a companion", nameof(pairs));
        }
        Companion = companion;
    }

    /// <summary>8 shapes x 6 colours; companion pairs are neighbours in the canonical order.</summary>
    public static WorldVocabulary Default { get; } = new(
        [
            new WorldShape("circle", "circles", ["ball", "disc", "disk"], 3.0),
            new WorldShape("square", "squares", ["box", "block"], 1.2),
            new WorldShape("triangle", "triangles", ["wedge"], 2.4),
            new WorldShape("star", "stars", [], 1.0),
            new WorldShape("heart", "hearts", [], 1.9),
            new WorldShape("cross", "crosses", ["plus"], 0.9),
            new WorldShape("diamond", "diamonds", ["rhombus"], 1.6),
            new WorldShape("hexagon", "hexagons", [], 0.8),
        ],
        [
            new WorldColour("red", 220, 40, 40),
            new WorldColour("green", 40, 170, 60),
            new WorldColour("blue", 40, 80, 220),
            new WorldColour("yellow", 235, 205, 30),
            new WorldColour("purple", 140, 60, 180),
            new WorldColour("orange", 245, 135, 20),
        ],
        [("circle", "square"), ("triangle", "star"), ("heart", "cross"), ("diamond", "hexagon")]);

    public int ShapeIndex(string name)
    {
        for (int i = 0; i < Shapes.Count; i++) if (Shapes[i].Name == name) return i;
        return -1;
    }

    public WorldShape Shape(string name) => Shapes[ShapeIndex(name) is var i and >= 0 ? i : throw new ArgumentException($"unknown shape '{name}'", nameof(name))];

    public WorldColour Colour(string name) => Colours.FirstOrDefault(c => c.Name == name) ?? throw new ArgumentException($"unknown colour '{name}'", nameof(name));

    /// <summary>The (category, synonyms) table the metrics use: canonical name, plural, synonyms.</summary>
    public IEnumerable<(string Category, IReadOnlyList<string> Words)> ObjectWords() =>
        Shapes.Select(s => (s.Name, (IReadOnlyList<string>)new[] { s.Name }.Concat(s.Synonyms).ToList()));
}
