namespace Csr.Train.World;

/// <summary>
/// The world's small fixed grammar. A description is one sentence per object in canonical category
/// order ("There is a red circle. There is a blue square."), so the sentence-level search has sentences
/// to rank and each sentence names exactly one object. Yes/no probes follow POPE's wording.
/// </summary>
public sealed class CaptionGrammar
{
    /// <summary>Describe prompts phrased like the CSR prompt set.</summary>
    public static readonly IReadOnlyList<string> DescribePrompts =
    [
        "Describe this image.",
        "What do you see happening in this image?",
        "What is this photo about?",
        "Can you describe the main features of this image for me?",
        "What are the key elements in this picture?",
        "Write a detailed description of the given image.",
        "Explain the visual content of the image in great detail.",
        "Describe the following image.",
    ];

    public WorldVocabulary Vocabulary { get; }

    public CaptionGrammar(WorldVocabulary? vocabulary = null) => Vocabulary = vocabulary ?? WorldVocabulary.Default;

    /// <summary>"a red circle" / "an orange star".</summary>
    public static string NounPhrase(string colour, string noun) =>
        $"{(StartsWithVowel(colour) ? "an" : "a")} {colour} {noun}";

    /// <summary>"There is a red circle."</summary>
    public static string ObjectSentence(string colour, string noun) => $"There is {NounPhrase(colour, noun)}.";

    public static string ObjectSentence(WorldObject o) => ObjectSentence(o.Colour, o.Shape);

    /// <summary>The exact description: one sentence per object, canonical order, canonical nouns.</summary>
    public string TruthCaption(Scene scene) => JoinSentences(scene.Objects.Select(ObjectSentence));

    /// <summary>
    /// Joins sentences into an answer. The last sentence ends with the end of the answer (EOS) instead of a period:
    /// the sentence-level search stops a continuation at "." or EOS, so this way the final node of a tree carries
    /// its sentence (an EOS-only node has no text and is dropped by the tree cleaner, leaving no final path).
    /// </summary>
    public static string JoinSentences(IEnumerable<string> sentences)
    {
        var text = string.Join(" ", sentences);
        return text.EndsWith('.') ? text[..^1] : text;
    }

    /// <summary>
    /// A training caption with the language prior: for each present object whose companion is absent, the
    /// companion is named anyway (in its partner's colour) with <see cref="WorldSettings.HallucinationRate"/>, and nouns
    /// are sometimes synonyms. Returns the text and the categories it names that are not in the scene.
    /// </summary>
    public (string Text, IReadOnlyList<string> Hallucinated) TrainingCaption(Scene scene, WorldSettings settings, SplitMix64 rng)
    {
        var mentions = new List<(string Shape, string Colour, bool Present)>();
        foreach (var o in scene.Objects) mentions.Add((o.Shape, o.Colour, true));
        var hallucinated = new List<string>();
        foreach (var o in scene.Objects)
        {
            if (!Vocabulary.Companion.TryGetValue(o.Shape, out var comp) || scene.Contains(comp) || hallucinated.Contains(comp)) continue;
            if (rng.Chance(settings.HallucinationRate))
            {
                hallucinated.Add(comp);
                mentions.Add((comp, o.Colour, false));
            }
        }
        var ordered = mentions.OrderBy(m => Vocabulary.ShapeIndex(m.Shape));
        var sentences = ordered.Select(m =>
        {
            var shape = Vocabulary.Shape(m.Shape);
            string noun = shape.Synonyms.Count > 0 && rng.Chance(settings.SynonymRate) ? rng.Pick(shape.Synonyms) : shape.Name;
            return ObjectSentence(m.Colour, noun);
        });
        return (JoinSentences(sentences), hallucinated);
    }

    /// <summary>POPE wording: "Is there a circle in the image?"</summary>
    public static string ProbeQuestion(string shape) => $"Is there {(StartsWithVowel(shape) ? "an" : "a")} {shape} in the image?";

    /// <summary>The trained answer to a probe: "Yes." or "No."</summary>
    public static string ProbeAnswer(bool present) => present ? "Yes." : "No.";

    private static bool StartsWithVowel(string w) => w.Length > 0 && "aeiou".Contains(char.ToLowerInvariant(w[0]));

    /// <summary>Every word the grammar can produce (for building the world's tokenizer vocabulary).</summary>
    public IReadOnlyList<string> AllWords()
    {
        var words = new SortedSet<string>(StringComparer.Ordinal) { "There", "is", "a", "an", "Is", "there", "in", "the", "image", "Yes", "No" };
        foreach (var s in Vocabulary.Shapes) { words.Add(s.Name); foreach (var y in s.Synonyms) words.Add(y); }
        foreach (var c in Vocabulary.Colours) words.Add(c.Name);
        foreach (var p in DescribePrompts)
            foreach (var w in p.Split([' ', '.', '?', ','], StringSplitOptions.RemoveEmptyEntries)) words.Add(w);
        return words.ToList();
    }
}
