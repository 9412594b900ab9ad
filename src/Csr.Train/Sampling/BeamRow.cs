using Csr.Models.Generation;

namespace Csr.Train.Sampling;

/// <summary>
/// One returned beam of a batched group beam search: a row of the result's cache (context + the beam's
/// tokens but the last, plus its pending last token). Rows share the result; it is disposed when the last
/// row referring to it is disposed.
/// </summary>
internal sealed class BeamRow : IDisposable
{
    internal sealed class Shared(GroupBeamSearchResult result, int refs)
    {
        public GroupBeamSearchResult Result { get; } = result;
        int _refs = refs;

        public void Release()
        {
            if (--_refs == 0) Result.Dispose();
        }
    }

    bool _disposed;

    public BeamRow(Shared owner, int row)
    {
        Owner = owner;
        Row = row;
    }

    public Shared Owner { get; }
    public int Row { get; }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Owner.Release();
    }
}
