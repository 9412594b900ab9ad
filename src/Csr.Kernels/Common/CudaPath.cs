using Csr.Native.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// Where a <see cref="KernelPath.Cuda"/> call runs, decided by where its tensors are:
/// <list type="bullet">
/// <item>CPU tensors: the fused CPU path (nothing is uploaded), noted once per op as the fallback
/// <c>"cuda->fused: CPU tensors"</c> in <see cref="KernelStats"/> and kernels.json.</item>
/// <item>CUDA tensors: the CUDA C kernel on the tensors' own device memory, in the primary context of their
/// device (see <see cref="CudaKernelRuntime"/>); when no driver, device or PTX function is there the call
/// fails with an error naming the op (device tensors are never copied to the host to run a CPU path).</item>
/// </list>
/// </summary>
internal static class CudaPath
{
    /// <summary>The fallback reason recorded when a CUDA-path call gets CPU tensors.</summary>
    public const string CpuTensorsReason = "CPU tensors";

    /// <summary>True (after noting the fallback) when <paramref name="t"/> is a CPU tensor and the fused CPU path runs instead.</summary>
    public static bool FallsBackOnCpu(string op, Tensor t)
    {
        if (t.device_type == DeviceType.CUDA) return false;
        if (t.device_type != DeviceType.CPU)
            throw new ArgumentException($"{op}: the cuda path runs on CUDA or CPU tensors, got {t.device}.");
        KernelStats.Fallback(op, KernelPath.Cuda, KernelPath.Fused, CpuTensorsReason);
        return true;
    }

    /// <summary>
    /// The runtime of <paramref name="t"/>'s device and the function, or an <see cref="InvalidOperationException"/>
    /// naming the op, the device and why the kernel is not available.
    /// </summary>
    public static (CudaKernelRuntime Runtime, IntPtr Function) Require(string op, Tensor t, string module, string function)
    {
        int device = (int)t.device_index < 0 ? 0 : (int)t.device_index;
        var rt = CudaKernelRuntime.TryGet(device, out var reason);
        IntPtr? fn = rt?.TryGetFunction(module, function, out reason);
        if (rt is null || fn is null)
            throw new InvalidOperationException(
                $"{op}: the tensors are on {t.device} but the CUDA kernel {module}.{function} is not available ({reason}); " +
                "build the PTX (eng/build-ptx.sh, or set CSR_PTX_DIR) or move the tensors to the CPU.");
        return (rt, fn.Value);
    }
}
