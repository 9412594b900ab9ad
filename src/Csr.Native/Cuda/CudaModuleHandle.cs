using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace Csr.Native.Cuda;

/// <summary>A loaded CUDA module (cuModuleLoadData); unloaded when released.</summary>
public sealed class CudaModuleHandle : SafeHandle
{
    internal CudaModuleHandle(IntPtr module, string name) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(module);
        Name = name;
    }

    /// <summary>The module's name (the PTX file's base name).</summary>
    public string Name { get; }

    /// <summary>True for a null handle.</summary>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Frees the driver object; true on success.</summary>
    protected override bool ReleaseHandle() =>
        CudaAPI.CurrentAPI.DestroyModule(handle) == CudaError.CUDA_SUCCESS;
}
