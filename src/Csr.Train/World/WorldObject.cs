namespace Csr.Train.World;

/// <summary>One object of a scene. Coordinates are fractions of the image side (resolution-free).</summary>
/// <param name="Shape">Category name (a <see cref="WorldShape.Name"/>).</param>
/// <param name="Colour">Colour name (a <see cref="WorldColour.Name"/>).</param>
/// <param name="Size">"small" or "large".</param>
/// <param name="X">Centre x in [0, 1].</param>
/// <param name="Y">Centre y in [0, 1].</param>
/// <param name="Radius">Half the object's extent, as a fraction of the image side.</param>
/// <param name="Rotation">Rotation in degrees.</param>
public sealed record WorldObject(string Shape, string Colour, string Size, double X, double Y, double Radius, double Rotation);
