namespace Csr.Train.Pipeline;

/// <summary>
/// Where a prompt's image lives: <c>Dir/Prefix + image</c>. The official CSR scripts use the prefix
/// <c>COCO_train2014_</c> on the prompt file's bare COCO ids (<c>--image-prefix</c>).
/// </summary>
public sealed record ImagePathRule(string Dir, string Prefix = "")
{
    public string Resolve(string image) => Path.Combine(Dir, Prefix + image);

    public string Resolve(PromptEntry prompt) => Resolve(prompt.Image);

    /// <summary>Resolves and checks existence; the error names the prompt and the path tried.</summary>
    public string ResolveExisting(PromptEntry prompt)
    {
        string p = Resolve(prompt.Image);
        if (!File.Exists(p))
            throw new FileNotFoundException($"image for prompt {prompt.Id} not found: {p} (--images {Dir}, --image-prefix \"{Prefix}\")", p);
        return p;
    }
}
