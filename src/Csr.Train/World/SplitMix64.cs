namespace Csr.Train.World;

/// <summary>
/// A small deterministic random generator (SplitMix64). The world must render identical bytes for a
/// seed on every machine and .NET version, so it does not depend on System.Random's implementation.
/// </summary>
public sealed class SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A generator for item <paramref name="index"/> of stream <paramref name="stream"/> under
    /// <paramref name="seed"/>: each scene draws from its own stream, so scene i does not depend on how
    /// many scenes were generated before it.</summary>
    public static SplitMix64 For(int seed, int stream, int index)
    {
        var s = new SplitMix64(((ulong)(uint)seed << 32) ^ (ulong)(uint)index);
        s._state ^= Mix((ulong)(uint)stream * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);
        s.NextULong();
        return s;
    }

    public ulong NextULong()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform double in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "n must be positive");
        return (int)(NextDouble() * n);
    }

    /// <summary>Uniform integer in [lo, hi] (inclusive).</summary>
    public int NextInclusive(int lo, int hi) => lo + Next(hi - lo + 1);

    public bool Chance(double p) => NextDouble() < p;

    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Index drawn with probability proportional to <paramref name="weights"/>.</summary>
    public int Weighted(IReadOnlyList<double> weights)
    {
        double total = 0;
        foreach (var w in weights) total += w;
        double u = NextDouble() * total;
        for (int i = 0; i < weights.Count; i++)
        {
            u -= weights[i];
            if (u < 0) return i;
        }
        return weights.Count - 1;
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];
}
