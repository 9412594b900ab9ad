namespace Csr.Train.Eval;

/// <summary>
/// English plural -> singular for nouns, enough for object words in captions (CHAIR singularises every
/// caption word before matching). Irregular forms are listed; the rest follow suffix rules.
/// </summary>
public static class Singularizer
{
    private static readonly Dictionary<string, string> Irregular = new(StringComparer.Ordinal)
    {
        ["people"] = "person", ["men"] = "man", ["women"] = "woman", ["children"] = "child",
        ["feet"] = "foot", ["teeth"] = "tooth", ["mice"] = "mouse", ["geese"] = "goose", ["oxen"] = "ox",
        ["knives"] = "knife", ["wives"] = "wife", ["lives"] = "life", ["leaves"] = "leaf", ["halves"] = "half",
        ["shelves"] = "shelf", ["wolves"] = "wolf", ["calves"] = "calf", ["loaves"] = "loaf", ["scarves"] = "scarf",
        ["skis"] = "ski", ["buses"] = "bus", ["busses"] = "bus", ["pluses"] = "plus", ["cacti"] = "cactus", ["octopuses"] = "octopus",
        ["viruses"] = "virus", ["walruses"] = "walrus", ["shoes"] = "shoe", ["toes"] = "toe", ["canoes"] = "canoe",
        ["cookies"] = "cookie", ["movies"] = "movie", ["ties"] = "tie", ["pies"] = "pie", ["brownies"] = "brownie",
        ["hoodies"] = "hoodie", ["rhombi"] = "rhombus", ["rhombuses"] = "rhombus", ["dice"] = "die",
        ["houses"] = "house", ["horses"] = "horse", ["vases"] = "vase", ["cases"] = "case", ["purses"] = "purse",
        ["nurses"] = "nurse", ["bases"] = "base", ["glasses"] = "glass", ["axes"] = "axe",
    };

    private static readonly HashSet<string> Invariant = new(StringComparer.Ordinal)
    {
        "sheep", "fish", "deer", "scissors", "series", "species", "news", "bus", "grass", "glass", "gas", "class",
        "dress", "cross", "boss", "chess", "tennis", "this", "is", "was", "has", "his", "its", "yes", "us", "as",
        "plus", "lens", "pants", "jeans", "shorts", "trousers", "clothes",
    };

    public static string Singularize(string word)
    {
        if (word.Length <= 3) return word;
        if (Invariant.Contains(word)) return word;
        if (Irregular.TryGetValue(word, out var s)) return s;
        if (word.EndsWith("ies", StringComparison.Ordinal)) return word[..^3] + "y";
        if (word.EndsWith("sses", StringComparison.Ordinal) || word.EndsWith("ches", StringComparison.Ordinal) ||
            word.EndsWith("shes", StringComparison.Ordinal) || word.EndsWith("xes", StringComparison.Ordinal) ||
            word.EndsWith("zzes", StringComparison.Ordinal) || word.EndsWith("oes", StringComparison.Ordinal))
            return word[..^2];
        if (word.EndsWith("ss", StringComparison.Ordinal) || word.EndsWith("us", StringComparison.Ordinal) ||
            word.EndsWith("is", StringComparison.Ordinal) || word.EndsWith("ous", StringComparison.Ordinal))
            return word;
        if (word.EndsWith('s')) return word[..^1];
        return word;
    }
}
