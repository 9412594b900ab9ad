namespace Csr.Train.Pipeline;

/// <summary>One entry of a CSR prompt file (format of CSR-Prompt-Dataset-12k.json).</summary>
/// <param name="Id">Unique prompt id, also the tree file name (<c>&lt;id&gt;.json</c>).</param>
/// <param name="Image">Image file name relative to the images directory (before the prefix rule).</param>
/// <param name="Input">The question with the <c>&lt;image&gt;</c> marker.</param>
public sealed record PromptEntry(string Id, string Image, string Input)
{
    public const string ImageMarker = "<image>";

    /// <summary>The question without the image marker, as the official sample.py strips it.</summary>
    public string Question => Input.Replace("<image>\n", "").Replace("\n<image>", "").Replace(ImageMarker, "").Trim();

    /// <summary>The human turn in LLaVA conversation format: <c>&lt;image&gt;\n{question}</c>.</summary>
    public string HumanTurn => ImageMarker + "\n" + Question;
}
