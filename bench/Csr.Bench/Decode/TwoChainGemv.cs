using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Csr.Bench.Decode;

/// <summary>
/// The comparison point of <see cref="GemvReport"/>: <see cref="Csr.Models.Fast.Bf16Gemv"/>'s 256-bit loop in its
/// plainest form, one accumulator for the even and one for the odd halves of a row of x (two FMA chains; for four rows,
/// four chains of two dependent FMAs), same data layout, threading and row grouping. Bench code only.
/// </summary>
public static unsafe class TwoChainGemv
{
    public static void Run(ushort* w, int n, int k, float* x, int m, float* y, int threads)
    {
        int half = k / 2, ld = half + 16;
        var xs = new float[m * 2 * ld];
        for (int r = 0; r < m; r++)
            for (int i = 0; i < half; i++)
            {
                xs[(r * 2) * ld + i] = x[(long)r * k + 2 * i];
                xs[(r * 2 + 1) * ld + i] = x[(long)r * k + 2 * i + 1];
            }
        int chunks = n < 256 ? 1 : threads * 4, per = (n + chunks - 1) / chunks;
        var wp = (IntPtr)w; var yp = (IntPtr)y;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            int n0 = c * per, n1 = Math.Min(n, n0 + per);
            fixed (float* xsp = xs)
                for (int row = n0; row < n1; row++)
                {
                    uint* packed = (uint*)((ushort*)wp + (long)row * k);
                    float* yy = (float*)yp;
                    int r = 0;
                    for (; r + 4 <= m; r += 4) Dot4(packed, half, ld, xsp, r, yy, n, row);
                    for (; r < m; r++) yy[(long)r * n + row] = Dot1(packed, half, xsp + (r * 2) * ld, xsp + (r * 2 + 1) * ld);
                }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    private static float Dot1(uint* packed, int half, float* xe, float* xo)
    {
        var mask = Vector256.Create(0xFFFF0000u);
        Vector256<float> a = default, b = default;
        int i = 0;
        for (; i + 8 <= half; i += 8)
        {
            var u = Vector256.Load(packed + i);
            a = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u, 16).AsSingle(), Vector256.Load(xe + i), a);
            b = Vector256.FusedMultiplyAdd((u & mask).AsSingle(), Vector256.Load(xo + i), b);
        }
        float acc = Vector256.Sum(a + b);
        for (; i < half; i++)
            acc += BitConverter.Int32BitsToSingle((int)(packed[i] << 16)) * xe[i] + BitConverter.Int32BitsToSingle((int)(packed[i] & 0xFFFF0000u)) * xo[i];
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    private static void Dot4(uint* packed, int half, int ld, float* xs, int r, float* y, int n, int row)
    {
        float* e0 = xs + (r * 2) * ld, d0 = e0 + ld, e1 = d0 + ld, d1 = e1 + ld, e2 = d1 + ld, d2 = e2 + ld, e3 = d2 + ld, d3 = e3 + ld;
        var mask = Vector256.Create(0xFFFF0000u);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 8 <= half; i += 8)
        {
            var u = Vector256.Load(packed + i);
            var ev = Vector256.ShiftLeft(u, 16).AsSingle();
            var od = (u & mask).AsSingle();
            a0 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e0 + i), Vector256.FusedMultiplyAdd(od, Vector256.Load(d0 + i), a0));
            a1 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e1 + i), Vector256.FusedMultiplyAdd(od, Vector256.Load(d1 + i), a1));
            a2 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e2 + i), Vector256.FusedMultiplyAdd(od, Vector256.Load(d2 + i), a2));
            a3 = Vector256.FusedMultiplyAdd(ev, Vector256.Load(e3 + i), Vector256.FusedMultiplyAdd(od, Vector256.Load(d3 + i), a3));
        }
        y[(long)r * n + row] = Vector256.Sum(a0);
        y[(long)(r + 1) * n + row] = Vector256.Sum(a1);
        y[(long)(r + 2) * n + row] = Vector256.Sum(a2);
        y[(long)(r + 3) * n + row] = Vector256.Sum(a3);
    }
}
