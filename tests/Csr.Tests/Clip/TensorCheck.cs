using static TorchSharp.torch;

namespace Csr.Tests.Clip;

/// <summary>atol + rtol * |ref| comparison that reports the first mismatching index.</summary>
internal static class TensorCheck
{
    public static float[] Floats(Tensor t) => t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();

    public static void Close(double[] expected, float[] actual, double atol = 1e-5, double rtol = 1e-4, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                Assert.Fail($"{what} mismatch at {i}: expected {expected[i]}, got {actual[i]} (tol {tol})");
        }
    }

    public static void Close(Tensor expected, Tensor actual, double atol = 1e-5, double rtol = 1e-4, string what = "")
    {
        Assert.Equal(expected.shape, actual.shape);
        Close(Floats(expected).Select(f => (double)f).ToArray(), Floats(actual), atol, rtol, what);
    }
}
