using Csr.Native.Cuda;

namespace Csr.Kernels;

/// <summary>Resolves a CUDA kernel or says once, clearly, why the fused CPU path runs instead.</summary>
internal static class CudaPath
{
    /// <summary>
    /// The runtime and function, or null after noting the fallback (<see cref="KernelStats.Fallback"/>: one log
    /// line per process and a <c>"fallback"</c> entry in kernels.json) naming the op and the reason.
    /// </summary>
    public static (CudaKernelRuntime Runtime, IntPtr Function)? Resolve(string op, string module, string function)
    {
        var rt = CudaKernelRuntime.TryGet(out var reason);
        if (rt is null)
        {
            KernelStats.Fallback(op, KernelPath.Cuda, KernelPath.Fused, reason);
            return null;
        }
        var fn = rt.TryGetFunction(module, function, out reason);
        if (fn is null)
        {
            KernelStats.Fallback(op, KernelPath.Cuda, KernelPath.Fused, $"kernel {module}.{function} unavailable ({reason})");
            return null;
        }
        return (rt, fn.Value);
    }
}
