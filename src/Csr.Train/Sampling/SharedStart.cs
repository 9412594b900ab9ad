using Csr.Models.Generation;

namespace Csr.Train.Sampling;

/// <summary>
/// The start (context caches of a batch of parents) of one depth's group beam search, shared by the children
/// it produced; disposed when the last child referring to it is disposed.
/// </summary>
internal sealed class SharedStart(GenerationStart start, int refs)
{
    int _refs = refs;

    public GenerationStart Start { get; } = start;

    public void Release()
    {
        if (--_refs == 0) Start.Dispose();
    }
}

/// <summary>A child's continuation state: its parent's row in a shared start and the child's sentence tokens (not yet in any cache).</summary>
internal sealed class ChildState(SharedStart owner, int parentRow, int[] tokens) : IDisposable
{
    bool _disposed;

    public SharedStart Owner { get; } = owner;
    public int ParentRow { get; } = parentRow;
    public int[] Tokens { get; } = tokens;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Owner.Release();
    }
}
