using Csr.Native.Cuda;

namespace Csr.Kernels;

/// <summary>Resolves a CUDA kernel or says once, clearly, why the CPU path runs instead.</summary>
internal static class CudaPath
{
    /// <summary>The runtime and function, or null after logging one line naming the op and the reason.</summary>
    public static (CudaKernelRuntime Runtime, IntPtr Function)? Resolve(string op, string module, string function)
    {
        var rt = CudaKernelRuntime.TryGet(out var reason);
        if (rt is null)
        {
            KernelLog.Once($"{op}: CUDA path unavailable ({reason}); using the fused CPU path.");
            return null;
        }
        var fn = rt.TryGetFunction(module, function, out reason);
        if (fn is null)
        {
            KernelLog.Once($"{op}: CUDA kernel {module}.{function} unavailable ({reason}); using the fused CPU path.");
            return null;
        }
        return (rt, fn.Value);
    }
}
