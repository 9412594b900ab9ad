namespace Csr.Train.World;

/// <summary>A fill colour of the world, with its word and RGB value.</summary>
public sealed record WorldColour(string Name, byte R, byte G, byte B);
