using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>
/// Per-layer key/value cache, each <c>[B, n_kv_heads, T, head_dim]</c>. The cache owns its tensors
/// (they are detached from every dispose scope) until <see cref="Dispose"/>; passing it to
/// <c>Forward</c> appends the new positions. <see cref="Clone"/> and <see cref="IndexSelect"/> return
/// independent caches, so a beam or a tree child can continue from a parent without touching it.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private bool _disposed;

    public KvCache(int numLayers)
    {
        if (numLayers <= 0) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "a cache needs at least one layer");
        _keys = new Tensor?[numLayers];
        _values = new Tensor?[numLayers];
    }

    public int NumLayers => _keys.Length;

    /// <summary>Number of cached positions (0 when empty).</summary>
    public long Length => _keys[0] is { } k ? k.shape[2] : 0;

    /// <summary>Batch size of the cached tensors (0 when empty).</summary>
    public long BatchSize => _keys[0] is { } k ? k.shape[0] : 0;

    public bool IsEmpty => _keys[0] is null;

    /// <summary>Cached keys of one layer, <c>[B, n_kv, T, hd]</c> (null when empty). Owned by the cache: do not dispose.</summary>
    public Tensor? Keys(int layer) => _keys[layer];

    /// <summary>Cached values of one layer, <c>[B, n_kv, T, hd]</c> (null when empty). Owned by the cache: do not dispose.</summary>
    public Tensor? Values(int layer) => _values[layer];

    /// <summary>
    /// Appends <paramref name="k"/>/<paramref name="v"/> (<c>[B, n_kv, t, hd]</c>) to layer
    /// <paramref name="layer"/> and returns the full keys and values <c>[B, n_kv, past+t, hd]</c>.
    /// The returned tensors belong to the caller's dispose scope and keep autograd history through
    /// k and v; the cache keeps a detached alias of them (no extra copy).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (k.dim() != 4 || v.dim() != 4)
            throw new ArgumentException($"KvCache.Append: expected [B, n_kv, t, hd] tensors, got k {Shape(k)}, v {Shape(v)}");
        var oldK = _keys[layer];
        var oldV = _values[layer];
        Tensor fullK, fullV;
        if (oldK is null || oldV is null)
        {
            fullK = k;
            fullV = v;
        }
        else
        {
            if (oldK.shape[0] != k.shape[0] || oldK.shape[1] != k.shape[1] || oldK.shape[3] != k.shape[3])
                throw new ArgumentException($"KvCache.Append layer {layer}: cached {Shape(oldK)} cannot take {Shape(k)}");
            fullK = torch.cat(new[] { oldK, k }, 2);
            fullV = torch.cat(new[] { oldV, v }, 2);
        }
        var storeK = fullK.detach();
        var storeV = fullV.detach();
        storeK.DetachFromDisposeScope();
        storeV.DetachFromDisposeScope();
        oldK?.Dispose();
        oldV?.Dispose();
        _keys[layer] = storeK;
        _values[layer] = storeV;
        return (fullK, fullV);
    }

    /// <summary>An independent deep copy.</summary>
    public KvCache Clone() => Map(t => t.clone());

    /// <summary>
    /// A new cache whose batch row i is this cache's row <c>batchIdx[i]</c> (reorder, duplicate or drop rows:
    /// beams, tree children). <paramref name="batchIdx"/> is a 1-D int64 tensor.
    /// </summary>
    public KvCache IndexSelect(Tensor batchIdx)
    {
        if (batchIdx.dim() != 1) throw new ArgumentException($"KvCache.IndexSelect: batchIdx must be 1-D, got {Shape(batchIdx)}");
        using var idx = batchIdx.to_type(ScalarType.Int64).to(_keys[0]?.device ?? batchIdx.device);
        return Map(t => t.index_select(0, idx));
    }

    /// <summary>Converts every cached tensor to <paramref name="dtype"/> (new cache).</summary>
    public KvCache To(ScalarType dtype) => Map(t => t.to_type(dtype));

    private KvCache Map(Func<Tensor, Tensor> f)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var c = new KvCache(NumLayers);
        for (int i = 0; i < NumLayers; i++)
        {
            if (_keys[i] is { } k) { c._keys[i] = f(k); c._keys[i]!.DetachFromDisposeScope(); }
            if (_values[i] is { } v) { c._values[i] = f(v); c._values[i]!.DetachFromDisposeScope(); }
        }
        return c;
    }

    /// <summary>Concatenates caches of equal length along the batch (e.g. batching nodes of one depth).</summary>
    public static KvCache Concat(IReadOnlyList<KvCache> caches)
    {
        if (caches.Count == 0) throw new ArgumentException("KvCache.Concat: no caches");
        int n = caches[0].NumLayers;
        long len = caches[0].Length;
        foreach (var c in caches)
            if (c.NumLayers != n || c.Length != len)
                throw new ArgumentException($"KvCache.Concat: caches differ (layers {c.NumLayers} vs {n}, length {c.Length} vs {len})");
        var r = new KvCache(n);
        for (int i = 0; i < n; i++)
        {
            if (caches[0]._keys[i] is null) continue;
            r._keys[i] = torch.cat(caches.Select(c => c._keys[i]!).ToArray(), 0);
            r._values[i] = torch.cat(caches.Select(c => c._values[i]!).ToArray(), 0);
            r._keys[i]!.DetachFromDisposeScope();
            r._values[i]!.DetachFromDisposeScope();
        }
        return r;
    }

    /// <summary>Bytes held by the cached tensors.</summary>
    public long Bytes
    {
        get
        {
            long b = 0;
            for (int i = 0; i < NumLayers; i++)
            {
                if (_keys[i] is { } k) b += k.numel() * k.ElementSize;
                if (_values[i] is { } v) b += v.numel() * v.ElementSize;
            }
            return b;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = 0; i < NumLayers; i++)
        {
            _keys[i]?.Dispose(); _keys[i] = null;
            _values[i]?.Dispose(); _values[i] = null;
        }
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
