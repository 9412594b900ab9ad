using System.Numerics;
using System.Runtime.CompilerServices;

namespace Csr.Kernels;

/// <summary>bfloat16 &lt;-&gt; float conversion (bf16 = the top 16 bits of an IEEE float).</summary>
internal static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Round to nearest even, as torch's float -&gt; bfloat16 cast (NaN kept as a quiet NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>Widens <paramref name="n"/> bf16 values to floats.</summary>
    public static unsafe void ToFloat(ushort* src, float* dst, int n)
    {
        int i = 0;
        int w = Vector<ushort>.Count;
        for (; i + w <= n; i += w)
        {
            var v = Unsafe.ReadUnaligned<Vector<ushort>>(src + i);
            Vector.Widen(v, out Vector<uint> lo, out Vector<uint> hi);
            Unsafe.WriteUnaligned(dst + i, Vector.AsVectorSingle(lo << 16));
            Unsafe.WriteUnaligned(dst + i + w / 2, Vector.AsVectorSingle(hi << 16));
        }
        for (; i < n; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>Narrows <paramref name="n"/> floats to bf16 with round-to-nearest-even (finite inputs).</summary>
    public static unsafe void FromFloat(float* src, ushort* dst, int n)
    {
        int i = 0;
        int w = Vector<float>.Count;
        var bias = new Vector<uint>(0x7FFFu);
        var one = new Vector<uint>(1u);
        for (; i + 2 * w <= n; i += 2 * w)
        {
            var a = Vector.AsVectorUInt32(Unsafe.ReadUnaligned<Vector<float>>(src + i));
            var b = Vector.AsVectorUInt32(Unsafe.ReadUnaligned<Vector<float>>(src + i + w));
            a = (a + bias + ((a >> 16) & one)) >> 16;
            b = (b + bias + ((b >> 16) & one)) >> 16;
            Unsafe.WriteUnaligned(dst + i, Vector.Narrow(a, b));
        }
        for (; i < n; i++) dst[i] = FromFloat(src[i]);
    }
}
