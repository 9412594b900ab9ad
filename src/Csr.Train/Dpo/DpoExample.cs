namespace Csr.Train.Dpo;

/// <summary>
/// One tokenized sequence: prompt + response ids (the image marker is one token id; the model expands it),
/// the index of the first response token, the image and the SHA-256 of the image file.
/// </summary>
public sealed record DpoSequence(long[] Ids, int ResponseStart, string? ImagePath, string? ImageHash = null)
{
    public int ResponseLength => Ids.Length - ResponseStart;

    /// <summary>Response tokens whose log-prob is counted (a first position has no prediction).</summary>
    public int ScoredTokens => Math.Max(0, Ids.Length - Math.Max(ResponseStart, 1));
}

/// <summary>A preference pair ready for training.</summary>
public sealed record DpoExample(string Id, DpoSequence Chosen, DpoSequence Rejected)
{
    /// <summary>
    /// Key of the reference cache: the id plus a hash of both token sequences and their images' file hashes (a changed
    /// tokenization or image invalidates it).
    /// </summary>
    public string CacheKey
    {
        get
        {
            // stable FNV-1a over both sequences (HashCode is randomized per process)
            ulong f = 14695981039346656037UL;
            foreach (var t in Chosen.Ids.Append(-1L).Concat(Rejected.Ids).Append((long)Chosen.ResponseStart).Append(Rejected.ResponseStart))
                for (int b = 0; b < 8; b++) { f ^= (byte)(t >> (8 * b)); f *= 1099511628211UL; }
            foreach (var h in new[] { Chosen.ImageHash, Rejected.ImageHash })
                if (h != null)
                    foreach (char c in h) { f ^= c; f *= 1099511628211UL; }
            return $"{Id}:{f:x16}";
        }
    }
}
