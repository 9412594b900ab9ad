using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace Csr.Native.Cuda;

/// <summary>Device memory from cuMemAlloc, freed with cuMemFree when released.</summary>
public sealed unsafe class CudaDeviceMemory : SafeHandle
{
    private CudaDeviceMemory(IntPtr ptr, long bytes) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(ptr);
        Bytes = bytes;
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The device pointer (for kernel arguments).</summary>
    public IntPtr Pointer => handle;

    /// <summary>True for a null handle.</summary>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Allocates <paramref name="bytes"/> (at least 1) on the current context's device.</summary>
    public static CudaDeviceMemory Allocate(long bytes)
    {
        CudaKernelRuntime.Check(CudaAPI.CurrentAPI.AllocateMemory(out IntPtr ptr, new IntPtr(Math.Max(1, bytes))), $"cuMemAlloc({bytes} bytes)");
        return new CudaDeviceMemory(ptr, bytes);
    }

    /// <summary>Allocates and fills with <paramref name="bytes"/> bytes from host memory.</summary>
    public static CudaDeviceMemory FromHost(void* src, long bytes)
    {
        var m = Allocate(bytes);
        m.CopyFromHost(src, bytes);
        return m;
    }

    /// <summary>Host to device copy (synchronous).</summary>
    public void CopyFromHost(void* src, long bytes)
    {
        if (bytes > Bytes) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"device buffer holds {Bytes} bytes");
        if (bytes == 0) return;
        CudaKernelRuntime.Check(CudaAPI.CurrentAPI.MemcpyAsync(handle, (IntPtr)src, new IntPtr(bytes), null), "cuMemcpy host->device");
        CudaKernelRuntime.Check(CudaAPI.CurrentAPI.SynchronizeContext(), "cuCtxSynchronize");
    }

    /// <summary>Frees the driver object; true on success.</summary>
    protected override bool ReleaseHandle() =>
        CudaAPI.CurrentAPI.FreeMemory(handle) == CudaError.CUDA_SUCCESS;
}
