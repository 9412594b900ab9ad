namespace Csr.Train.Dpo;

/// <summary>
/// One tokenized sequence: prompt + response ids (the image marker is one token id; the model expands it),
/// the index of the first response token, and the image.
/// </summary>
public sealed record DpoSequence(long[] Ids, int ResponseStart, string? ImagePath)
{
    public int ResponseLength => Ids.Length - ResponseStart;
}

/// <summary>A preference pair ready for training.</summary>
public sealed record DpoExample(string Id, DpoSequence Chosen, DpoSequence Rejected)
{
    /// <summary>Key of the reference cache: the id plus a hash of both token sequences (a changed tokenization invalidates it).</summary>
    public string CacheKey
    {
        get
        {
            // stable FNV-1a over both sequences (HashCode is randomized per process)
            ulong f = 14695981039346656037UL;
            foreach (var t in Chosen.Ids.Append(-1L).Concat(Rejected.Ids).Append((long)Chosen.ResponseStart).Append(Rejected.ResponseStart))
                for (int b = 0; b < 8; b++) { f ^= (byte)(t >> (8 * b)); f *= 1099511628211UL; }
            return $"{Id}:{f:x16}";
        }
    }
}
