namespace Csr.Train.Eval;

/// <summary>How POPE picks absent objects: uniformly (random), the most frequent in the dataset
/// (popular), or those co-occurring most with the image's objects (adversarial).</summary>
public enum PopeSplit
{
    Random,
    Popular,
    Adversarial,
}
