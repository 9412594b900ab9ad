using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Fast;

/// <summary>
/// One decode step of attention for rows that extend a shared prefix (<c>LlamaAttention</c> over
/// <c>KvCache.OverSharedPrefix</c>) in one pass on the CPU. Per prefix row and head, each prefix key and value is read
/// once for the G query rows that extend it; then each row's own positions; scores, the softmax and the weighted sum in
/// fp32, with no intermediate tensors. The composed TorchSharp version issues about twenty ops per layer and step whose
/// cost at decode shapes is mostly per-op overhead and the memory traffic of <c>[rows, heads, positions]</c>
/// intermediates. fp32 and bf16 tensors (bf16 widened exactly, the result rounded to nearest even); inference only.
/// </summary>
public static unsafe class SharedPrefixDecode
{
    private static readonly KernelSwitch Switch = new(enabled: Environment.GetEnvironmentVariable("CSR_FUSED_ATTENTION") != "0");

    /// <summary>Whether <c>LlamaAttention</c> uses the kernel (process-wide; <c>CSR_FUSED_ATTENTION=0</c> turns it off).</summary>
    public static bool Enabled
    {
        get => Switch.Enabled;
        set => Switch.Enabled = value;
    }

    /// <summary>Turns the kernel off for the calling thread until disposed (A/B comparisons that must not affect other threads).</summary>
    public static IDisposable DisableOnThisThread() => Switch.DisableOnThisThread();

    /// <summary>True when <see cref="Run"/> takes these tensors: enabled, all on the CPU, one dtype (fp32 or bf16), no
    /// gradient wanted, the head dimension contiguous.</summary>
    public static bool Takes(Tensor q, Tensor pk, Tensor pv, Tensor sk, Tensor sv, Tensor? allowed)
    {
        if (!Enabled) return false;
        var dt = q.dtype;
        if (dt != ScalarType.Float32 && dt != ScalarType.BFloat16) return false;
        foreach (var t in new[] { q, pk, pv, sk, sv })
            if (t.device_type != DeviceType.CPU || t.dtype != dt || t.dim() != 4 || t.stride(3) != 1 || t.requires_grad) return false;
        return allowed is null || allowed.device_type == DeviceType.CPU;
    }

    /// <summary>
    /// q <c>[N, nh, 1, hd]</c>; prefix keys/values <c>[B, nkv, P, hd]</c>; the rows' own keys/values <c>[N, nkv, S, hd]</c>
    /// (any strides, the last dimension contiguous); <paramref name="allowed"/> null or <c>[N, 1, 1, P + S]</c> (true =
    /// attended); row n extends prefix row n / <paramref name="rowsPerPrefix"/>, or
    /// <paramref name="prefixRows"/>[n / rowsPerPrefix] when given; query head h reads key head h / (nh / nkv).
    /// Returns softmax(q k^T x scale) v as <c>[N, nh, 1, hd]</c> in q's dtype.
    /// </summary>
    public static Tensor Run(Tensor q, Tensor pk, Tensor pv, Tensor sk, Tensor sv, Tensor? allowed, int rowsPerPrefix, double scale,
        long[]? prefixRows = null)
    {
        if (!Takes(q, pk, pv, sk, sv, allowed))
            throw new ArgumentException("SharedPrefixDecode: needs CPU tensors of one dtype (fp32 or bf16), 4-d, head dimension contiguous, no gradient");
        return RunTaken(q, pk, pv, sk, sv, allowed, rowsPerPrefix, scale, prefixRows);
    }

    /// <summary><see cref="Run"/> for a caller that has just checked <see cref="Takes"/> (the attention, per layer and step).</summary>
    internal static Tensor RunTaken(Tensor q, Tensor pk, Tensor pv, Tensor sk, Tensor sv, Tensor? allowed, int rowsPerPrefix, double scale,
        long[]? prefixRows)
    {
        // each shape read is several native calls, and this runs per layer and decode step: read each shape once
        long[] qs = q.shape, pks = pk.shape, pvs = pv.shape, sks = sk.shape, svs = sv.shape;
        long n = qs[0], nh = qs[1], hd = qs[3];
        long nodes = prefixRows?.LongLength ?? pks[0], nkv = pks[1], p = pks[2], s = sks[2];
        if (prefixRows is not null && prefixRows.Any(r => r < 0 || r >= pks[0]))
            throw new ArgumentException($"SharedPrefixDecode: prefix rows must be in [0, {pks[0]})");
        int g = rowsPerPrefix;
        if (qs[2] != 1) throw new ArgumentException($"SharedPrefixDecode: one new position per row, got q {Shape(q)}");
        if (nodes * g != n) throw new ArgumentException($"SharedPrefixDecode: {n} rows do not extend {nodes} prefix rows x {g}");
        if (nkv == 0 || nh % nkv != 0) throw new ArgumentException($"SharedPrefixDecode: {nh} query heads over {nkv} key heads");
        if (!pvs.SequenceEqual(pks) || pks[3] != hd)
            throw new ArgumentException($"SharedPrefixDecode: prefix keys {Shape(pk)} and values {Shape(pv)} must be [B, nkv, P, {hd}]");
        if (!svs.SequenceEqual(sks) || sks[0] != n || sks[1] != nkv || sks[3] != hd)
            throw new ArgumentException($"SharedPrefixDecode: own keys {Shape(sk)} and values {Shape(sv)} must be [{n}, {nkv}, S, {hd}]");
        if (allowed is not null && (allowed.numel() != n * (p + s) || allowed.size(0) != n))
            throw new ArgumentException($"SharedPrefixDecode: mask {Shape(allowed)} must be [{n}, 1, 1, {p + s}]");

        using var scope = torch.NewDisposeScope();
        bool bf16 = q.dtype == ScalarType.BFloat16;
        var mask = allowed?.to_type(ScalarType.Bool).reshape(n, p + s).contiguous();
        var result = torch.empty(new[] { n, nh, 1, hd }, dtype: q.dtype); // host: the CPU kernel writes it (Takes: CPU only)
        var a = new Args
        {
            Bf16 = bf16, N = n, Heads = nh, Hd = (int)hd, Rep = nh / nkv, P = p, S = s, G = g, Scale = (float)scale,
            Q = Ptr(q, bf16), Pk = Ptr(pk, bf16), Pv = Ptr(pv, bf16), Sk = Ptr(sk, bf16), Sv = Ptr(sv, bf16), Out = Ptr(result, bf16),
            Mask = mask is null ? null : (bool*)TensorMemory.DataPtr<bool>(mask),
            PrefixRows = prefixRows,
            QS = Strides(q), PkS = Strides(pk), PvS = Strides(pv), SkS = Strides(sk), SvS = Strides(sv),
        };
        long items = nodes * nh;
        long work = n * nh * (p + s) * hd;
        int threads = Math.Max(1, Math.Min(Environment.ProcessorCount, torch.get_num_threads()));
        if (threads == 1 || work < (1L << 18) || items == 1)
        {
            var buffers = new Buffers(a);
            try { for (long i = 0; i < items; i++) Item(a, i, buffers); }
            finally { buffers.Return(); }
        }
        else
        {
            Parallel.For(0L, items, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new Buffers(a),
                (i, _, buffers) => { Item(a, i, buffers); return buffers; }, buffers => buffers.Return());
        }
        GC.KeepAlive(q); GC.KeepAlive(pk); GC.KeepAlive(pv); GC.KeepAlive(sk); GC.KeepAlive(sv); GC.KeepAlive(mask);
        return result.MoveToOuterDisposeScope();
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";

    private static IntPtr Ptr(Tensor t, bool bf16) => bf16 ? TensorMemory.StridedDataPtr<BFloat16>(t) : TensorMemory.StridedDataPtr<float>(t);

    private static (long, long, long) Strides(Tensor t) => (t.stride(0), t.stride(1), t.stride(2));

    private sealed class Args
    {
        public bool Bf16;
        public long N, Heads, P, S, Rep;
        public int Hd, G;
        public float Scale;
        public IntPtr Q, Pk, Pv, Sk, Sv, Out;
        public bool* Mask;
        public long[]? PrefixRows;
        public (long, long, long) QS, PkS, PvS, SkS, SvS;
    }

    /// <summary>Scratch of one thread: the G queries, one key or value row, the G output rows and the G score rows.</summary>
    private sealed class Buffers(Args a)
    {
        public readonly float[] Q = ArrayPool<float>.Shared.Rent(a.G * a.Hd);
        public readonly float[] Vec = ArrayPool<float>.Shared.Rent(a.Hd);
        public readonly float[] Acc = ArrayPool<float>.Shared.Rent(a.G * a.Hd);
        public readonly float[] Scores = ArrayPool<float>.Shared.Rent((int)(a.G * (a.P + a.S)));

        public void Return()
        {
            ArrayPool<float>.Shared.Return(Q); ArrayPool<float>.Shared.Return(Vec);
            ArrayPool<float>.Shared.Return(Acc); ArrayPool<float>.Shared.Return(Scores);
        }
    }

    /// <summary>One prefix row and query head: its G rows' scores over the prefix and their own positions, the softmax,
    /// and the weighted sums of the values.</summary>
    private static void Item(Args a, long item, Buffers buffers)
    {
        long node = item / a.Heads, h = item % a.Heads, kvh = h / a.Rep;
        long prow = a.PrefixRows is { } map ? map[node] : node; // the prefix row this node's rows read
        int hd = a.Hd, g = a.G;
        long p = a.P, s = a.S, len = p + s;
        {
            fixed (float* qf = buffers.Q, kv = buffers.Vec, o = buffers.Acc, sc = buffers.Scores)
            {
                for (int r = 0; r < g; r++)
                {
                    long row = node * g + r;
                    var src = Load(a.Bf16, a.Q, row * a.QS.Item1 + h * a.QS.Item2, hd, qf + r * hd);
                    if (src != qf + r * hd) Buffer.MemoryCopy(src, qf + r * hd, hd * sizeof(float), hd * sizeof(float));
                }
                // prefix: each key read once for the G rows
                for (long j = 0; j < p; j++)
                {
                    var key = Load(a.Bf16, a.Pk, prow * a.PkS.Item1 + kvh * a.PkS.Item2 + j * a.PkS.Item3, hd, kv);
                    for (int r = 0; r < g; r++)
                    {
                        long row = node * g + r;
                        sc[r * len + j] = a.Mask is null || a.Mask[row * len + j] ? Dot(qf + r * hd, key, hd) * a.Scale : float.NegativeInfinity;
                    }
                }
                // each row's own positions
                for (int r = 0; r < g; r++)
                {
                    long row = node * g + r;
                    for (long j = 0; j < s; j++)
                    {
                        if (a.Mask is not null && !a.Mask[row * len + p + j]) { sc[r * len + p + j] = float.NegativeInfinity; continue; }
                        var key = Load(a.Bf16, a.Sk, row * a.SkS.Item1 + kvh * a.SkS.Item2 + j * a.SkS.Item3, hd, kv);
                        sc[r * len + p + j] = Dot(qf + r * hd, key, hd) * a.Scale;
                    }
                }
                // softmax numerators (max subtracted); sums per row
                Span<float> sums = stackalloc float[g];
                for (int r = 0; r < g; r++)
                {
                    float* row = sc + r * len;
                    float max = float.NegativeInfinity;
                    for (long j = 0; j < len; j++) if (row[j] > max) max = row[j];
                    float sum = 0;
                    if (float.IsNegativeInfinity(max)) { for (long j = 0; j < len; j++) row[j] = 0; }
                    else for (long j = 0; j < len; j++) { float e = MathF.Exp(row[j] - max); row[j] = e; sum += e; }
                    sums[r] = sum;
                }
                new Span<float>(o, g * hd).Clear();
                for (long j = 0; j < p; j++)
                {
                    var value = Load(a.Bf16, a.Pv, prow * a.PvS.Item1 + kvh * a.PvS.Item2 + j * a.PvS.Item3, hd, kv);
                    for (int r = 0; r < g; r++)
                    {
                        float w = sc[r * len + j];
                        if (w != 0) Axpy(w, value, o + r * hd, hd);
                    }
                }
                for (int r = 0; r < g; r++)
                {
                    long row = node * g + r;
                    for (long j = 0; j < s; j++)
                    {
                        float w = sc[r * len + p + j];
                        if (w == 0) continue;
                        var value = Load(a.Bf16, a.Sv, row * a.SvS.Item1 + kvh * a.SvS.Item2 + j * a.SvS.Item3, hd, kv);
                        Axpy(w, value, o + r * hd, hd);
                    }
                    float inv = sums[r] > 0 ? 1f / sums[r] : 0f;
                    long dst = (row * a.Heads + h) * hd; // result is contiguous [N, nh, 1, hd]
                    if (a.Bf16)
                    {
                        ushort* outp = (ushort*)a.Out + dst;
                        for (int i = 0; i < hd; i++) outp[i] = Bf16Gemv.RoundToBf16(o[r * hd + i] * inv);
                    }
                    else
                    {
                        float* outp = (float*)a.Out + dst;
                        for (int i = 0; i < hd; i++) outp[i] = o[r * hd + i] * inv;
                    }
                }
            }
        }
    }

    /// <summary>hd elements at <paramref name="offset"/> as fp32: the data itself for fp32, else widened exactly into
    /// <paramref name="scratch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Load(bool bf16, IntPtr basePtr, long offset, int hd, float* scratch)
    {
        if (!bf16) return (float*)basePtr + offset;
        ushort* src = (ushort*)basePtr + offset;
        for (int i = 0; i < hd; i++) scratch[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
        return scratch;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* x, float* y, int n)
    {
        int i = 0, w = Vector<float>.Count;
        var acc = Vector<float>.Zero;
        for (; i + w <= n; i += w)
            acc += Unsafe.ReadUnaligned<Vector<float>>(x + i) * Unsafe.ReadUnaligned<Vector<float>>(y + i);
        float sum = Vector.Sum(acc);
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float alpha, float* x, float* y, int n)
    {
        int i = 0, w = Vector<float>.Count;
        var va = new Vector<float>(alpha);
        for (; i + w <= n; i += w)
            Unsafe.WriteUnaligned(y + i, Unsafe.ReadUnaligned<Vector<float>>(y + i) + va * Unsafe.ReadUnaligned<Vector<float>>(x + i));
        for (; i < n; i++) y[i] += alpha * x[i];
    }
}
