namespace Csr.Train.World;

/// <summary>A generated scene: its exact object list (at most one object per category, in the
/// vocabulary's canonical category order) and its background.</summary>
public sealed record Scene(string Id, int Index, IReadOnlyList<WorldObject> Objects, string BackgroundTexture, int BackgroundTone)
{
    /// <summary>The category names present, in canonical order.</summary>
    public IReadOnlyList<string> Categories => Objects.Select(o => o.Shape).ToList();

    public bool Contains(string shape) => Objects.Any(o => o.Shape == shape);

    public string ImageFileName => $"{Id}.png";
}
