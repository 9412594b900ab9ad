namespace Csr.Train.World;

/// <summary>An object category of the world (a drawn shape), with the words that name it.</summary>
/// <param name="Name">Canonical noun used in captions ("circle").</param>
/// <param name="Plural">Plural of the canonical noun ("circles").</param>
/// <param name="Synonyms">Other nouns (singular) that name the same category ("ball", "disc").</param>
/// <param name="Popularity">Relative frequency of the category in scenes (drives POPE "popular").</param>
public sealed record WorldShape(string Name, string Plural, IReadOnlyList<string> Synonyms, double Popularity);
