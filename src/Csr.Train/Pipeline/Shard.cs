namespace Csr.Train.Pipeline;

/// <summary>
/// <c>--shard K/N</c>: this job takes every N-th prompt starting at K (0-based), so N jobs of an array
/// (Slurm <c>--array=0-(N-1)</c>, Kubernetes indexed Job) partition the prompt file.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard All = new(0, 1);

    public static Shard Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return All;
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int k) || !int.TryParse(parts[1], out int n))
            throw new ArgumentException($"--shard \"{text}\": expected K/N, e.g. 0/4");
        if (n < 1 || k < 0 || k >= n)
            throw new ArgumentException($"--shard \"{text}\": need 0 <= K < N and N >= 1");
        return new Shard(k, n);
    }

    public IEnumerable<T> Select<T>(IEnumerable<T> items)
    {
        int k = Index, n = Count;
        return items.Where((_, i) => i % n == k);
    }

    public override string ToString() => $"{Index}/{Count}";
}
