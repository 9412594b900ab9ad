using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Native;

/// <summary>
/// One place that initialises TorchSharp and reports a load failure with an action a user can take.
/// The GLIBCXX_3.4.32 fix happens at build time (eng/TorchSharpGlibcxxFix.targets); this only
/// turns a failure into a clear message.
/// </summary>
public static class TorchRuntime
{
    private static int _initialised;

    private static int _cudaInitialised;

    /// <summary>
    /// As <see cref="EnsureInitialised(int?)"/>, and initialises libtorch's CUDA backend when
    /// <paramref name="device"/> is a CUDA device (<c>torch.InitializeDeviceType(DeviceType.CUDA)</c>); idempotent.
    /// Throws <see cref="InvalidOperationException"/> when the CUDA backend does not load. Choose and validate the
    /// device with <see cref="ComputeDevice.Resolve"/>, which turns that into a one-line user error first.
    /// </summary>
    public static void EnsureInitialised(Device device, int? threads = null)
    {
        EnsureInitialised(threads);
        if (device.type != DeviceType.CUDA || Volatile.Read(ref _cudaInitialised) == 1) return;
        torch.InitializeDeviceType(DeviceType.CUDA);
        Volatile.Write(ref _cudaInitialised, 1);
    }

    /// <summary>Loads libtorch (first touch) and sets the thread count; idempotent.</summary>
    public static void EnsureInitialised(int? threads = null)
    {
        if (Interlocked.Exchange(ref _initialised, 1) == 1)
        {
            if (threads is int t0 && t0 > 0) torch.set_num_threads(t0);
            return;
        }
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            if (threads is int t && t > 0) torch.set_num_threads(t);
        }
        catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or NotSupportedException)
        {
            Interlocked.Exchange(ref _initialised, 0);
            throw new InvalidOperationException(
                "TorchSharp's native library could not be loaded. On hosts whose libstdc++ lacks GLIBCXX_3.4.32 " +
                "(e.g. Debian 12) the build marks that requirement weak in bin/.../runtimes/linux-x64/native/libLibTorchSharp.so; " +
                "rebuild with 'dotnet build' (not a copy of another machine's output). Inner error: " + ex.Message, ex);
        }
    }
}
