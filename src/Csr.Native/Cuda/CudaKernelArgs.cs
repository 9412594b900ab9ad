using System.Runtime.InteropServices;

namespace Csr.Native.Cuda;

/// <summary>
/// The <c>void** kernelParams</c> block of cuLaunchKernel: each argument copied into unmanaged memory,
/// and an array of pointers to them. Supported argument types: device memory (its pointer), IntPtr
/// (e.g. a libtorch CUDA tensor's data pointer), int, long, float.
/// </summary>
public sealed unsafe class CudaKernelArgs : IDisposable
{
    private readonly IntPtr _values;
    private readonly IntPtr _pointers;

    /// <summary>Copies <paramref name="args"/> (in the kernel's parameter order) into the block.</summary>
    public CudaKernelArgs(params object[] args)
    {
        _values = Marshal.AllocHGlobal(Math.Max(1, args.Length) * 8);
        _pointers = Marshal.AllocHGlobal(Math.Max(1, args.Length) * IntPtr.Size);
        var vals = (byte*)_values;
        var ptrs = (IntPtr*)_pointers;
        for (int i = 0; i < args.Length; i++)
        {
            byte* slot = vals + i * 8;
            switch (args[i])
            {
                case CudaDeviceMemory m: *(IntPtr*)slot = m.Pointer; break;
                case IntPtr p: *(IntPtr*)slot = p; break;
                case int v: *(int*)slot = v; break;
                case long v: *(long*)slot = v; break;
                case float v: *(float*)slot = v; break;
                default: throw new ArgumentException($"kernel argument {i}: unsupported type {args[i]?.GetType().Name ?? "null"}");
            }
            ptrs[i] = (IntPtr)slot;
        }
    }

    /// <summary>The <c>void**</c> to pass as kernelParams.</summary>
    public IntPtr Pointer => _pointers;

    /// <summary>Frees the block.</summary>
    public void Dispose()
    {
        Marshal.FreeHGlobal(_values);
        Marshal.FreeHGlobal(_pointers);
    }
}
