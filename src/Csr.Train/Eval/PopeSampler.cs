namespace Csr.Train.Eval;

/// <summary>An image with its exact object categories.</summary>
public sealed record AnnotatedImage(string Image, IReadOnlySet<string> Objects);

/// <summary>
/// Builds POPE question sets from annotated images. Per image: up to <c>perImage</c> present objects
/// ("yes") and as many absent objects ("no"), interleaved. Absent objects are uniform for
/// <see cref="PopeSplit.Random"/>, the most frequent categories for <see cref="PopeSplit.Popular"/>, and
/// those with the highest co-occurrence with the image's objects for <see cref="PopeSplit.Adversarial"/>;
/// frequencies and co-occurrence are counted over <paramref name="statistics"/> (ties: frequency, then name).
/// </summary>
public sealed class PopeSampler
{
    private readonly IReadOnlyList<string> _categories;
    private readonly Dictionary<string, int> _freq = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), int> _cooc = new();

    public PopeSampler(IReadOnlyList<string> categories, IEnumerable<AnnotatedImage> statistics)
    {
        _categories = categories;
        foreach (var c in categories) _freq[c] = 0;
        foreach (var img in statistics)
        {
            foreach (var a in img.Objects)
            {
                if (!_freq.ContainsKey(a)) throw new ArgumentException($"image {img.Image} has object '{a}' that is not a category");
                _freq[a]++;
                foreach (var b in img.Objects)
                    if (a != b) _cooc[(a, b)] = _cooc.GetValueOrDefault((a, b)) + 1;
            }
        }
    }

    public int Frequency(string category) => _freq.GetValueOrDefault(category);
    public int CoOccurrence(string a, string b) => _cooc.GetValueOrDefault((a, b));

    /// <summary>"Is there a {object} in the image?" (POPE's wording, "an" before a vowel).</summary>
    public static string Question(string category) =>
        $"Is there {("aeiou".Contains(category[0]) ? "an" : "a")} {category} in the image?";

    public IReadOnlyList<PopeQuestion> Sample(IEnumerable<AnnotatedImage> images, PopeSplit split, int perImage, int seed)
    {
        var rng = new World.SplitMix64((ulong)(uint)seed * 2654435761UL + (ulong)split);
        var questions = new List<PopeQuestion>();
        int id = 1;
        foreach (var img in images)
        {
            var present = img.Objects.OrderBy(c => c, StringComparer.Ordinal).ToList();
            Shuffle(present, rng);
            present = present.Take(perImage).ToList();
            var absent = _categories.Where(c => !img.Objects.Contains(c)).ToList();
            List<string> negatives = split switch
            {
                PopeSplit.Random => Shuffled(absent, rng),
                PopeSplit.Popular => absent.OrderByDescending(Frequency).ThenBy(c => c, StringComparer.Ordinal).ToList(),
                PopeSplit.Adversarial => absent.OrderByDescending(c => img.Objects.Sum(o => CoOccurrence(o, c)))
                    .ThenByDescending(Frequency).ThenBy(c => c, StringComparer.Ordinal).ToList(),
                _ => throw new ArgumentOutOfRangeException(nameof(split), split, null),
            };
            negatives = negatives.Take(present.Count).ToList();
            for (int k = 0; k < Math.Max(present.Count, negatives.Count); k++)
            {
                if (k < present.Count) questions.Add(new PopeQuestion(id++, img.Image, Question(present[k]), "yes"));
                if (k < negatives.Count) questions.Add(new PopeQuestion(id++, img.Image, Question(negatives[k]), "no"));
            }
        }
        return questions;
    }

    private static List<string> Shuffled(List<string> items, World.SplitMix64 rng)
    {
        var copy = items.ToList();
        Shuffle(copy, rng);
        return copy;
    }

    private static void Shuffle(List<string> items, World.SplitMix64 rng)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
