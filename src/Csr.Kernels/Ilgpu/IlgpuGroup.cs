using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Csr.Kernels;

/// <summary>
/// Device helpers shared by the group-per-row ILGPU kernels: logit loads (float32, or bf16 widened in the
/// kernel), the online logsumexp state and its warp-shuffle / shared-memory reductions, and the warp argmax the
/// top-K merge uses. Every helper that reduces must be reached by all threads of the group (or, for the
/// <c>Warp*</c> ones, of the warp): they shuffle and synchronise.
/// <para>
/// Group layout: one group per row, <see cref="GroupSize"/> threads (a multiple of the warp size, at most
/// <c>warp size x min(warp size, <see cref="MaxWarps"/>)</c>, so that one warp can merge the per-warp partials).
/// ILGPU's CPU accelerator (CI) emulates warps of 4 threads and groups of at most 16; CUDA runs groups of 128.
/// </para>
/// </summary>
internal static class IlgpuGroup
{
    /// <summary>Most warps per group the shared-memory partials hold (the second stage is one warp).</summary>
    public const int MaxWarps = 32;

    /// <summary>Threads per group on <paramref name="acc"/>: min(128, the accelerator's limit), whole warps.</summary>
    public static int GroupSize(Accelerator acc)
    {
        int w = acc.WarpSize;
        int g = Math.Min(128, Math.Min(acc.MaxNumThreadsPerGroup, w * Math.Min(w, MaxWarps)));
        return Math.Max(w, g / w * w);
    }

    /// <summary>bf16 bits to float32: bf16 is the top half of an IEEE float.</summary>
    public static float Bf16ToFloat(ushort b) => Interop.IntAsFloat((uint)b << 16);

    /// <summary>float32 to bf16 bits, round to nearest even (NaN stays NaN), as <see cref="Bf16"/> does on the host.</summary>
    public static ushort FloatToBf16(float f)
    {
        uint u = Interop.FloatAsInt(f);
        if (XMath.IsNaN(f)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>Adds x to the online state (m = running max, s = sum of exp(x - m)).</summary>
    public static void LsePush(ref float m, ref float s, float x)
    {
        if (x > m)
        {
            s = m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - x);
            m = x;
        }
        if (m != float.NegativeInfinity) s += XMath.Exp(x - m);
    }

    /// <summary>Merges state (om, os) into (m, s).</summary>
    public static void LseMerge(ref float m, ref float s, float om, float os)
    {
        if (om == float.NegativeInfinity) return;
        if (m == float.NegativeInfinity) { m = om; s = os; return; }
        float nm = XMath.Max(m, om);
        s = s * XMath.Exp(m - nm) + os * XMath.Exp(om - nm);
        m = nm;
    }

    /// <summary>Butterfly (xor-shuffle) merge across the warp; every lane ends with the warp's state.</summary>
    public static void WarpLse(ref float m, ref float s)
    {
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1)
        {
            float om = Warp.ShuffleXor(m, off);
            float os = Warp.ShuffleXor(s, off);
            LseMerge(ref m, ref s, om, os);
        }
    }

    /// <summary>
    /// Group-wide merge: warp butterflies, lane 0 of each warp writes its partial to shared memory
    /// (2 x <see cref="MaxWarps"/> floats), then every warp merges the partials with a second butterfly, so
    /// every thread ends with the row's state without a broadcast.
    /// </summary>
    public static void GroupLse(ref float m, ref float s)
    {
        var sm = SharedMemory.Allocate<float>(MaxWarps);
        var ss = SharedMemory.Allocate<float>(MaxWarps);
        WarpLse(ref m, ref s);
        if (Warp.IsFirstLane) { sm[Warp.WarpIdx] = m; ss[Warp.WarpIdx] = s; }
        Group.Barrier();
        int nw = Group.DimX / Warp.WarpSize;
        int lane = Warp.LaneIdx;
        m = lane < nw ? sm[lane] : float.NegativeInfinity;
        s = lane < nw ? ss[lane] : 0f;
        WarpLse(ref m, ref s);
        Group.Barrier(); // the partials may be overwritten by a later reduction
    }

    /// <summary>Group-wide sum (warp butterflies, then the per-warp partials through shared memory); every thread gets it.</summary>
    public static float GroupSum(float x)
    {
        var part = SharedMemory.Allocate<float>(MaxWarps);
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1) x += Warp.ShuffleXor(x, off);
        if (Warp.IsFirstLane) part[Warp.WarpIdx] = x;
        Group.Barrier();
        int nw = Group.DimX / Warp.WarpSize;
        x = Warp.LaneIdx < nw ? part[Warp.LaneIdx] : 0f;
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1) x += Warp.ShuffleXor(x, off);
        Group.Barrier();
        return x;
    }

    /// <summary>Top-K order: a before b when its value is larger, or equal with the lower index.</summary>
    public static bool Before(float va, int ia, float vb, int ib) => va > vb || (va == vb && ia < ib);

    /// <summary>Butterfly argmax under <see cref="Before"/>; every lane ends with the warp's first (v, i).</summary>
    public static void WarpBest(ref float v, ref int i)
    {
        for (int off = Warp.WarpSize / 2; off > 0; off >>= 1)
        {
            float ov = Warp.ShuffleXor(v, off);
            int oi = Warp.ShuffleXor(i, off);
            if (Before(ov, oi, v, i)) { v = ov; i = oi; }
        }
    }
}

/// <summary>A row-major logits view the kernels read as float32 (generic kernels specialise on it).</summary>
internal interface ILogitsView
{
    float Load(long i);
}

/// <summary>float32 logits.</summary>
internal readonly struct F32Logits : ILogitsView
{
    public readonly ArrayView<float> X;
    public F32Logits(ArrayView<float> x) => X = x;
    public float Load(long i) => X[i];
}

/// <summary>bf16 logits (their uint16 bits), widened to float32 as they are loaded.</summary>
internal readonly struct Bf16Logits : ILogitsView
{
    public readonly ArrayView<ushort> X;
    public Bf16Logits(ArrayView<ushort> x) => X = x;
    public float Load(long i) => IlgpuGroup.Bf16ToFloat(X[i]);
}

/// <summary>A gradient view the backward writes float32 values into (stored in the logits' dtype).</summary>
internal interface IGradView
{
    void Store(long i, float g);
}

/// <summary>float32 gradient.</summary>
internal readonly struct F32Grad : IGradView
{
    public readonly ArrayView<float> O;
    public F32Grad(ArrayView<float> o) => O = o;
    public void Store(long i, float g) => O[i] = g;
}

/// <summary>bf16 gradient (round to nearest even).</summary>
internal readonly struct Bf16Grad : IGradView
{
    public readonly ArrayView<ushort> O;
    public Bf16Grad(ArrayView<ushort> o) => O = o;
    public void Store(long i, float g) => O[i] = IlgpuGroup.FloatToBf16(g);
}
