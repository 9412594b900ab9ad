using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>
/// Per-layer key/value cache, each <c>[B, n_kv_heads, T, head_dim]</c>. The cache owns its tensors
/// (detached from every dispose scope) until <see cref="Dispose"/>; passing it to <c>Forward</c> appends the new
/// positions. Storage has spare capacity (<see cref="GrowBy"/> positions), so a decode step writes one position instead
/// of copying the whole cache. <see cref="Clone"/> and <see cref="IndexSelect"/> return independent, compact caches,
/// so a beam or a tree child can continue from a parent without touching it.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;   // [B, n_kv, capacity, hd]
    private readonly Tensor?[] _values; // [B, n_kv, capacity, hd]
    private readonly long[] _lengths;
    private bool _disposed;

    /// <summary>Spare positions allocated when the storage must grow (default 32).</summary>
    public static int DefaultGrowBy { get; set; } = 32;

    public int GrowBy { get; init; } = DefaultGrowBy;

    public KvCache(int numLayers)
    {
        if (numLayers <= 0) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "a cache needs at least one layer");
        _keys = new Tensor?[numLayers];
        _values = new Tensor?[numLayers];
        _lengths = new long[numLayers];
    }

    public int NumLayers => _keys.Length;

    /// <summary>
    /// Keys and values every group of <see cref="RowsPerPrefix"/> consecutive rows attends to before its own positions
    /// (null for an ordinary cache): the context a node's beams share in a beam search, held once per node instead of
    /// once per beam. This cache then holds only each row's own positions (the generated suffix); the prefix is not
    /// owned (not disposed with this cache). See <see cref="OverSharedPrefix"/>.
    /// </summary>
    public KvCache? SharedPrefix { get; private init; }

    /// <summary>Rows per prefix row when <see cref="SharedPrefix"/> is set (row r reads prefix row r / RowsPerPrefix).</summary>
    public int RowsPerPrefix { get; private init; } = 1;

    /// <summary>
    /// An empty cache whose rows extend <paramref name="prefix"/>'s rows, <paramref name="rowsPerPrefix"/> rows each
    /// (rows r of this cache read prefix row r / rowsPerPrefix): appends store only the new positions, and attention reads
    /// each prefix row once for all of its rows. Decode steps only (one new position per forward).
    /// </summary>
    public static KvCache OverSharedPrefix(KvCache prefix, int rowsPerPrefix)
    {
        if (prefix.IsEmpty || prefix.SharedPrefix is not null) throw new ArgumentException("KvCache.OverSharedPrefix: the prefix must be a filled, ordinary cache");
        if (rowsPerPrefix < 1) throw new ArgumentOutOfRangeException(nameof(rowsPerPrefix), rowsPerPrefix, "at least one row per prefix row");
        return new KvCache(prefix.NumLayers) { SharedPrefix = prefix, RowsPerPrefix = rowsPerPrefix, GrowBy = prefix.GrowBy };
    }

    /// <summary>Number of cached positions (0 when empty), the shared prefix's included.</summary>
    public long Length => (SharedPrefix?.Length ?? 0) + _lengths[0];


    /// <summary>Batch size of the cached tensors (0 when empty).</summary>
    public long BatchSize => _keys[0] is { } k ? k.shape[0] : 0;

    public bool IsEmpty => _keys[0] is null;

    /// <summary>Cached keys of one layer, a view <c>[B, n_kv, T, hd]</c> of the storage (null when empty).</summary>
    public Tensor? Keys(int layer) => _keys[layer]?.narrow(2, 0, _lengths[layer]);

    /// <summary>Cached values of one layer, a view <c>[B, n_kv, T, hd]</c> of the storage (null when empty).</summary>
    public Tensor? Values(int layer) => _values[layer]?.narrow(2, 0, _lengths[layer]);

    /// <summary>
    /// Appends <paramref name="k"/>/<paramref name="v"/> (<c>[B, n_kv, t, hd]</c>) to layer <paramref name="layer"/> and
    /// returns the full keys and values <c>[B, n_kv, past+t, hd]</c> (views of the storage, in the caller's dispose scope).
    /// When k or v require grad, the result is a concatenation that keeps their autograd history instead.
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (k.dim() != 4 || v.dim() != 4 || !k.shape.SequenceEqual(v.shape))
            throw new ArgumentException($"KvCache.Append: expected equal [B, n_kv, t, hd] tensors, got k {Shape(k)}, v {Shape(v)}");
        var oldK = _keys[layer];
        long len = _lengths[layer], t = k.shape[2];
        if (oldK is not null && (oldK.shape[0] != k.shape[0] || oldK.shape[1] != k.shape[1] || oldK.shape[3] != k.shape[3]))
            throw new ArgumentException($"KvCache.Append layer {layer}: cached [{oldK.shape[0]}, {oldK.shape[1]}, {len}, {oldK.shape[3]}] cannot take {Shape(k)}");
        if (oldK is not null && oldK.dtype != k.dtype)
            throw new ArgumentException($"KvCache.Append layer {layer}: cache dtype {oldK.dtype} != new keys dtype {k.dtype}");

        if (k.requires_grad || v.requires_grad)
        {
            // training through the cache: keep the graph; store a detached compact copy
            var fk = oldK is null ? k : torch.cat(new[] { Keys(layer)!, k }, 2);
            var fv = oldK is null ? v : torch.cat(new[] { Values(layer)!, v }, 2);
            Store(layer, fk.detach().clone(), fv.detach().clone(), len + t);
            return (fk, fv);
        }

        if (oldK is null || len + t > oldK.shape[2])
        {
            long cap = len + t + (oldK is null ? 0 : GrowBy);
            var shape = new[] { k.shape[0], k.shape[1], cap, k.shape[3] };
            var nk = torch.empty(shape, dtype: k.dtype, device: k.device);
            var nv = torch.empty(shape, dtype: v.dtype, device: v.device);
            if (oldK is not null && len > 0)
            {
                using (var dst = nk.narrow(2, 0, len)) using (var src = oldK.narrow(2, 0, len)) dst.copy_(src);
                using (var dst = nv.narrow(2, 0, len)) using (var src = _values[layer]!.narrow(2, 0, len)) dst.copy_(src);
            }
            Store(layer, nk, nv, len);
        }
        using (var dst = _keys[layer]!.narrow(2, len, t)) dst.copy_(k);
        using (var dst = _values[layer]!.narrow(2, len, t)) dst.copy_(v);
        _lengths[layer] = len + t;
        return (_keys[layer]!.narrow(2, 0, len + t), _values[layer]!.narrow(2, 0, len + t));
    }

    private void Store(int layer, Tensor k, Tensor v, long length)
    {
        k.DetachFromDisposeScope();
        v.DetachFromDisposeScope();
        if (!ReferenceEquals(_keys[layer], k)) _keys[layer]?.Dispose();
        if (!ReferenceEquals(_values[layer], v)) _values[layer]?.Dispose();
        _keys[layer] = k;
        _values[layer] = v;
        _lengths[layer] = length;
    }

    /// <summary>An independent, compact deep copy.</summary>
    public KvCache Clone() => Map(t => t.clone());

    /// <summary>
    /// A new cache whose batch row i is this cache's row <c>batchIdx[i]</c> (reorder, duplicate or drop rows:
    /// beams, tree children). <paramref name="batchIdx"/> is a 1-D integer tensor.
    /// </summary>
    public KvCache IndexSelect(Tensor batchIdx)
    {
        if (batchIdx.dim() != 1) throw new ArgumentException($"KvCache.IndexSelect: batchIdx must be 1-D, got {Shape(batchIdx)}");
        using var idx = batchIdx.to_type(ScalarType.Int64).to(_keys[0]?.device ?? batchIdx.device);
        if (!IsEmpty)
        {
            long b = BatchSize;
            if (idx.numel() > 0 && (idx.min().item<long>() < 0 || idx.max().item<long>() >= b))
                throw new ArgumentException($"KvCache.IndexSelect: indices must be in [0, {b})");
        }
        return Map(t => t.index_select(0, idx));
    }

    /// <summary>
    /// A new cache whose batch row i is this cache's row <c>batchIdx[i]</c>, with this cache's spare capacity kept, so
    /// the next <see cref="Append"/> writes its positions in place: the per-step beam reorder of a search, where a
    /// compact copy (<see cref="IndexSelect"/>) would make every following append copy the whole cache again. The
    /// indices are not read back to the host; libtorch's index_select checks their range.
    /// </summary>
    public KvCache ReorderRows(Tensor batchIdx)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batchIdx.dim() != 1) throw new ArgumentException($"KvCache.ReorderRows: batchIdx must be 1-D, got {Shape(batchIdx)}");
        return Reorder(batchIdx, PrefixRows);
    }

    /// <summary>Rows <paramref name="batchIdx"/> with their spare capacity, over this cache's shared prefix (if any) read
    /// through <paramref name="prefixRows"/>.</summary>
    private KvCache Reorder(Tensor batchIdx, long[]? prefixRows)
    {
        using var idx = batchIdx.to_type(ScalarType.Int64).to(_keys[0]?.device ?? batchIdx.device);
        var c = new KvCache(NumLayers) { GrowBy = GrowBy, SharedPrefix = SharedPrefix, RowsPerPrefix = RowsPerPrefix, PrefixRows = prefixRows };
        for (int i = 0; i < NumLayers; i++)
        {
            if (_keys[i] is null) continue;
            c.Store(i, _keys[i]!.index_select(0, idx), _values[i]!.index_select(0, idx), _lengths[i]); // [B', n_kv, capacity, hd]
        }
        return c;
    }

    /// <summary>
    /// For a cache over a shared prefix whose rows read only some of the prefix's rows: <c>PrefixRows[j]</c> is the prefix
    /// row that rows j*RowsPerPrefix .. (j+1)*RowsPerPrefix-1 read (null: row r reads prefix row r / RowsPerPrefix).
    /// </summary>
    public long[]? PrefixRows { get; private init; }

    /// <summary>The number of prefix rows this cache's rows read (groups of <see cref="RowsPerPrefix"/> rows).</summary>
    public long PrefixGroups => PrefixRows?.Length ?? SharedPrefix?.BatchSize ?? 0;

    /// <summary>
    /// <see cref="ReorderRows(Tensor)"/> of a cache over a shared prefix that also drops groups: the result's rows are
    /// this cache's rows <paramref name="batchIdx"/>, and its row groups read the prefix rows
    /// <paramref name="prefixRows"/> (<see cref="PrefixRows"/>), the prefix itself not copied. A beam search drops the rows
    /// of the batch items that finished this way.
    /// </summary>
    public KvCache ReorderRows(Tensor batchIdx, long[] prefixRows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (SharedPrefix is null) throw new InvalidOperationException("KvCache.ReorderRows: only a cache over a shared prefix takes prefix rows");
        if (batchIdx.dim() != 1 || batchIdx.shape[0] != prefixRows.LongLength * RowsPerPrefix)
            throw new ArgumentException($"KvCache.ReorderRows: {Shape(batchIdx)} rows do not extend {prefixRows.Length} prefix rows x {RowsPerPrefix}");
        long available = SharedPrefix.BatchSize;
        if (prefixRows.Any(r => r < 0 || r >= available)) throw new ArgumentException($"KvCache.ReorderRows: prefix rows must be in [0, {available})");
        return Reorder(batchIdx, prefixRows);
    }

    /// <summary>Converts every cached tensor to <paramref name="dtype"/> (new compact cache).</summary>
    public KvCache To(ScalarType dtype) => Map(t => t.to_type(dtype, copy: true));

    private KvCache Map(Func<Tensor, Tensor> f)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RefuseSharedPrefix();
        var c = new KvCache(NumLayers) { GrowBy = GrowBy };
        for (int i = 0; i < NumLayers; i++)
        {
            if (_keys[i] is null) continue;
            using var kv = Keys(i)!;
            using var vv = Values(i)!;
            c.Store(i, f(kv), f(vv), _lengths[i]);
        }
        return c;
    }

    /// <summary>Concatenates caches of equal length along the batch (e.g. batching nodes of one depth).</summary>
    public static KvCache Concat(IReadOnlyList<KvCache> caches)
    {
        if (caches.Count == 0) throw new ArgumentException("KvCache.Concat: no caches");
        int n = caches[0].NumLayers;
        long len = caches[0].Length;
        if (caches.Any(c => c.SharedPrefix is not null))
            throw new InvalidOperationException("KvCache.Concat: a cache over a shared prefix cannot be concatenated");
        foreach (var c in caches)
            if (c.NumLayers != n || c.Length != len)
                throw new ArgumentException($"KvCache.Concat: caches differ (layers {c.NumLayers} vs {n}, length {c.Length} vs {len})");
        var r = new KvCache(n);
        for (int i = 0; i < n; i++)
        {
            if (caches[0]._keys[i] is null) continue;
            using var scope = torch.NewDisposeScope();
            var k = torch.cat(caches.Select(c => c.Keys(i)!).ToArray(), 0).MoveToOuterDisposeScope();
            var v = torch.cat(caches.Select(c => c.Values(i)!).ToArray(), 0).MoveToOuterDisposeScope();
            r.Store(i, k, v, len);
        }
        return r;
    }

    /// <summary>
    /// A new compact cache holding only the cached positions <paramref name="positions"/> (1-D integer tensor, ascending):
    /// drops positions that every row masks out, e.g. padding left behind by rows that were dropped from a batch.
    /// </summary>
    public KvCache SelectPositions(Tensor positions)
    {
        if (positions.dim() != 1) throw new ArgumentException($"KvCache.SelectPositions: positions must be 1-D, got {Shape(positions)}");
        ObjectDisposedException.ThrowIf(_disposed, this);
        RefuseSharedPrefix();
        using var idx = positions.to_type(ScalarType.Int64).to(_keys[0]?.device ?? positions.device);
        var c = new KvCache(NumLayers) { GrowBy = GrowBy };
        for (int i = 0; i < NumLayers; i++)
        {
            if (_keys[i] is null) continue;
            using var kv = Keys(i)!;
            using var vv = Values(i)!;
            c.Store(i, kv.index_select(2, idx), vv.index_select(2, idx), idx.shape[0]);
        }
        return c;
    }

    /// <summary>
    /// Concatenates caches of any lengths along the batch, each left-padded with zeros to <paramref name="length"/>
    /// (at least the longest); the caller masks the padding out (mask 0), so positions and attention are unchanged.
    /// </summary>
    public static KvCache ConcatLeftPadded(IReadOnlyList<KvCache> caches, long length)
    {
        if (caches.Count == 0) throw new ArgumentException("KvCache.ConcatLeftPadded: no caches");
        int n = caches[0].NumLayers;
        if (caches.Any(c => c.SharedPrefix is not null))
            throw new InvalidOperationException("KvCache.ConcatLeftPadded: a cache over a shared prefix cannot be concatenated");
        foreach (var c in caches)
            if (c.NumLayers != n || c.Length > length || c.IsEmpty)
                throw new ArgumentException($"KvCache.ConcatLeftPadded: caches differ (layers {c.NumLayers} vs {n}, length {c.Length} > {length} or empty)");
        var r = new KvCache(n) { GrowBy = caches[0].GrowBy };
        for (int i = 0; i < n; i++)
        {
            using var scope = torch.NewDisposeScope();
            Tensor Padded(Tensor t)
            {
                long pad = length - t.shape[2];
                if (pad == 0) return t;
                var zeros = torch.zeros(new[] { t.shape[0], t.shape[1], pad, t.shape[3] }, dtype: t.dtype, device: t.device);
                return torch.cat(new[] { zeros, t }, 2);
            }
            var k = torch.cat(caches.Select(c => Padded(c.Keys(i)!)).ToArray(), 0).MoveToOuterDisposeScope();
            var v = torch.cat(caches.Select(c => Padded(c.Values(i)!)).ToArray(), 0).MoveToOuterDisposeScope();
            r.Store(i, k, v, length);
        }
        return r;
    }

    /// <summary>Bytes held by the cache storage (including spare capacity).</summary>
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

    private void RefuseSharedPrefix()
    {
        if (SharedPrefix is not null)
            throw new InvalidOperationException("KvCache: this operation needs the rows' whole context; a cache over a shared prefix holds only their own positions");
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
