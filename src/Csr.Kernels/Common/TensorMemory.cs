using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// Raw access to tensor memory: host pointers of contiguous CPU tensors for the fused C# paths, and the
/// data pointer of any tensor (<see cref="DataPointer"/>, device memory for CUDA tensors) for the CUDA kernels.
/// A pointer is valid while the tensor is alive; callers keep the tensor referenced while they use it.
/// </summary>
internal static unsafe class TensorMemory
{
    /// <summary>Pointer to the first element of a contiguous CPU tensor.</summary>
    public static T* Ptr<T>(Tensor t, string name) where T : unmanaged
    {
        if (t.device_type != DeviceType.CPU)
            throw new ArgumentException($"{name}: the fused CPU path needs a CPU tensor, got {t.device}.", name);
        if (!t.is_contiguous())
            throw new ArgumentException($"{name}: expected a contiguous tensor (call .contiguous()).", name);
        if (t.numel() == 0) return null;
        fixed (byte* p = t.bytes) return (T*)p;
    }

    /// <summary>Contiguous CPU copy (or the tensor itself) as an owned handle the caller disposes.</summary>
    public static Tensor Contiguous(Tensor t) => t.is_contiguous() ? t.alias() : t.contiguous();

    /// <summary>
    /// libtorch's <c>tensor.data_ptr()</c> (first element, storage offset included) of a contiguous tensor on
    /// any device, through LibTorchSharp's exported <c>THSTensor_data</c> (TorchSharp's own accessors read CPU
    /// memory only). For a CUDA tensor this is a device pointer in the primary context of its device.
    /// </summary>
    public static IntPtr DataPointer(Tensor t, string name)
    {
        if (!t.is_contiguous())
            throw new ArgumentException($"{name}: expected a contiguous tensor (call .contiguous()).", name);
        if (t.numel() == 0) return IntPtr.Zero;
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero) throw new InvalidOperationException($"{name}: libtorch returned no data pointer for a {t.device} tensor.");
        return p;
    }

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr tensor);
}
