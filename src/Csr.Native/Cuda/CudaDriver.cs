using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace Csr.Native.Cuda;

/// <summary>
/// The few CUDA driver entry points ILGPU's <see cref="CudaAPI"/> does not expose (cuInit, cuDeviceGet and the
/// primary-context calls), resolved from the driver library (<c>libcuda.so.1</c> / <c>nvcuda.dll</c>) at first use.
/// The primary context is the one the CUDA runtime, and so libtorch, uses for a device: kernels launched in it
/// see libtorch's device allocations.
/// </summary>
internal static unsafe class CudaDriver
{
    private static readonly object Gate = new();
    private static bool _loaded;
    private static string? _failure;
    private static delegate* unmanaged<uint, CudaError> _init;
    private static delegate* unmanaged<int*, int, CudaError> _deviceGet;
    private static delegate* unmanaged<IntPtr*, int, CudaError> _primaryRetain;
    private static delegate* unmanaged<int, CudaError> _primaryRelease;
    private static delegate* unmanaged<IntPtr, CudaError> _ctxSetCurrent;

    /// <summary>Loads the driver and calls cuInit once; false with a reason when there is no usable driver.</summary>
    public static bool TryLoad(out string reason)
    {
        lock (Gate)
        {
            if (_loaded) { reason = ""; return true; }
            if (_failure is not null) { reason = _failure; return false; }
            IntPtr lib = IntPtr.Zero;
            foreach (var name in OperatingSystem.IsWindows() ? new[] { "nvcuda.dll" } : new[] { "libcuda.so.1", "libcuda.so" })
                if (NativeLibrary.TryLoad(name, out lib)) break;
            if (lib == IntPtr.Zero) { reason = _failure = "no CUDA driver (libcuda) found"; return false; }
            try
            {
                _init = (delegate* unmanaged<uint, CudaError>)NativeLibrary.GetExport(lib, "cuInit");
                _deviceGet = (delegate* unmanaged<int*, int, CudaError>)NativeLibrary.GetExport(lib, "cuDeviceGet");
                _primaryRetain = (delegate* unmanaged<IntPtr*, int, CudaError>)NativeLibrary.GetExport(lib, "cuDevicePrimaryCtxRetain");
                _primaryRelease = (delegate* unmanaged<int, CudaError>)NativeLibrary.GetExport(lib, "cuDevicePrimaryCtxRelease_v2");
                _ctxSetCurrent = (delegate* unmanaged<IntPtr, CudaError>)NativeLibrary.GetExport(lib, "cuCtxSetCurrent");
            }
            catch (EntryPointNotFoundException ex)
            {
                reason = _failure = $"CUDA driver too old ({ex.Message})";
                return false;
            }
            var err = _init(0);
            if (err != CudaError.CUDA_SUCCESS) { reason = _failure = $"cuInit failed: {err}"; return false; }
            _loaded = true;
            reason = "";
            return true;
        }
    }

    /// <summary>The device handle of ordinal <paramref name="ordinal"/> (cuDeviceGet).</summary>
    public static CudaError DeviceGet(int ordinal, out int device)
    {
        int d;
        var e = _deviceGet(&d, ordinal);
        device = d;
        return e;
    }

    /// <summary>Retains the device's primary context (cuDevicePrimaryCtxRetain); release with <see cref="PrimaryContextRelease"/>.</summary>
    public static CudaError PrimaryContextRetain(int device, out IntPtr context)
    {
        IntPtr c;
        var e = _primaryRetain(&c, device);
        context = c;
        return e;
    }

    /// <summary>cuDevicePrimaryCtxRelease.</summary>
    public static CudaError PrimaryContextRelease(int device) => _primaryRelease(device);

    /// <summary>Makes <paramref name="context"/> current on the calling thread (cuCtxSetCurrent).</summary>
    public static CudaError SetCurrent(IntPtr context) => _ctxSetCurrent(context);
}
