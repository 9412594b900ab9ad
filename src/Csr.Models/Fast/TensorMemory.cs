using System.Reflection;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Csr.Models.Fast;

/// <summary>Raw data pointers of contiguous CPU tensors (TorchSharp's TensorAccessor holds it privately).</summary>
public static class TensorMemory
{
    private static class Cache<T> where T : unmanaged
    {
        public static readonly FieldInfo Field = typeof(TensorAccessor<T>).GetField("_tensor_data_ptr", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new MissingFieldException("TorchSharp TensorAccessor<T>._tensor_data_ptr not found (TorchSharp version changed?)");
    }

    /// <summary>Pointer to the first element of a contiguous CPU tensor of element type <typeparamref name="T"/>.</summary>
    public static IntPtr DataPtr<T>(Tensor t) where T : unmanaged
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException($"TensorMemory: tensor must be on the CPU, is on {t.device}");
        if (!t.is_contiguous()) throw new ArgumentException("TensorMemory: tensor must be contiguous");
        using var acc = t.data<T>();
        return (IntPtr)Cache<T>.Field.GetValue(acc)!;
    }

    /// <summary>Pointer to element [0, ..., 0] of a CPU tensor of any layout (a view's storage offset included); read it
    /// with <c>t.stride()</c>.</summary>
    public static IntPtr StridedDataPtr<T>(Tensor t) where T : unmanaged
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException($"TensorMemory: tensor must be on the CPU, is on {t.device}");
        using var acc = t.data<T>();
        return (IntPtr)Cache<T>.Field.GetValue(acc)!;
    }
}
