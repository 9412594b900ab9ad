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

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() =>
        CudaAPI.CurrentAPI.DestroyModule(handle) == CudaError.CUDA_SUCCESS;
}
