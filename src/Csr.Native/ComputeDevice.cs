using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Native;

/// <summary>
/// The device a model, a stage or an op computes on, chosen once from a <c>--device</c> text
/// (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>, <c>auto</c>) and then read from tensors: code below the CLI takes
/// the device of the model's parameters or of its input tensors (<c>x.device</c>) and creates every new tensor
/// there. <c>auto</c> means the first CUDA device when TorchSharp's CUDA runtime is loaded and a GPU is visible,
/// else the CPU.
/// </summary>
public static class ComputeDevice
{
    /// <summary>True when this build references TorchSharp's CUDA runtime (<c>dotnet build -p:TorchBackend=cuda</c>).</summary>
    public static bool CudaBuild =>
#if CSR_TORCH_CUDA
        true;
#else
        false;
#endif

    /// <summary>The build command that brings TorchSharp's CUDA runtime in; named in every "no CUDA" message.</summary>
    public const string CudaBuildHint = "build with dotnet build -c Release -p:TorchBackend=cuda (see README \"GPU\")";

    /// <summary>A parsed <c>--device</c> value: <see cref="IsAuto"/> or a device type with an index (-1 = unspecified).</summary>
    public readonly record struct Spec(string Text, bool IsAuto, DeviceType Type, int Index);

    /// <summary>
    /// Parses a <c>--device</c> text without touching libtorch. Throws <see cref="ArgumentException"/> (a one-line
    /// user error) for anything but <c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> with N &gt;= 0.
    /// </summary>
    public static Spec Parse(string? text)
    {
        var t = (text ?? "auto").Trim().ToLowerInvariant();
        if (t is "" or "auto") return new Spec("auto", true, DeviceType.CPU, -1);
        if (t == "cpu") return new Spec("cpu", false, DeviceType.CPU, -1);
        if (t == "cuda") return new Spec("cuda", false, DeviceType.CUDA, -1);
        if (t.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(t.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i))
            return new Spec(t, false, DeviceType.CUDA, i);
        throw new ArgumentException($"--device {text}: expected cpu, cuda, cuda:N or auto");
    }

    /// <summary>
    /// Parses, resolves <c>auto</c> and validates a <c>--device</c> text, initialising libtorch for that device
    /// (<see cref="TorchRuntime.EnsureInitialised(Device, int?)"/>). A CUDA device that cannot be used throws
    /// <see cref="ArgumentException"/> with one line saying what is missing: the CUDA runtime (a CPU build), a
    /// visible GPU, or enough GPUs for the index.
    /// </summary>
    public static Device Resolve(string? text, int? threads = null)
    {
        var spec = Parse(text);
        TorchRuntime.EnsureInitialised(threads);
        Device device;
        if (spec.IsAuto) device = CudaUsable() ? new Device(DeviceType.CUDA, 0) : CPU;
        else if (spec.Type == DeviceType.CPU) device = CPU;
        else
        {
            int index = Math.Max(0, spec.Index);
            if (!CudaBuild)
                throw new ArgumentException($"--device {spec.Text}: this build uses TorchSharp's CPU runtime; {CudaBuildHint}");
            if (!CudaUsable())
                throw new ArgumentException($"--device {spec.Text}: CUDA runtime loaded but no GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)");
            int count = cuda.device_count();
            if (index >= count)
                throw new ArgumentException($"--device {spec.Text}: CUDA runtime loaded but only {count} GPU{(count == 1 ? "" : "s")} visible");
            device = new Device(DeviceType.CUDA, index);
        }
        TorchRuntime.EnsureInitialised(device, threads);
        return device;
    }

    /// <summary>A resolved <c>--dtype</c>: the dtype, whether it came from <c>auto</c>, and why (for <c>auto</c>).</summary>
    public readonly record struct DTypeChoice(ScalarType DType, bool IsAuto, string Reason)
    {
        /// <summary>"fp32" or "bf16".</summary>
        public string Name => DType == ScalarType.BFloat16 ? "bf16" : "fp32";

        /// <summary>The line the CLI prints once, e.g. <c>dtype auto: fp32 (CPU has no AVX512_BF16/AMX-BF16)</c>.</summary>
        public override string ToString() => IsAuto ? $"dtype auto: {Name} ({Reason})" : $"dtype {Name}";
    }

    /// <summary>
    /// What <c>--dtype auto</c> means on <paramref name="device"/> for a CPU with <paramref name="cpuFlags"/>
    /// (<see cref="CpuFeatures.Flags"/> spelling): bf16 on CUDA; on the CPU bf16 only where it has native bf16
    /// arithmetic (AVX512_BF16, AMX-BF16, or Arm's BF16), since elsewhere libtorch emulates bf16 matmuls and they
    /// run several times slower than fp32 (prefill especially); fp32 otherwise.
    /// </summary>
    public static DTypeChoice AutoDType(Device device, IReadOnlySet<string> cpuFlags)
    {
        if (device.type == DeviceType.CUDA) return new(ScalarType.BFloat16, true, "CUDA device");
        var native = CpuFeatures.NativeBf16Flags.FirstOrDefault(cpuFlags.Contains);
        return native is not null
            ? new(ScalarType.BFloat16, true, $"CPU has {native.ToUpperInvariant()}")
            : new(ScalarType.Float32, true, "CPU has no AVX512_BF16/AMX-BF16");
    }

    /// <summary>
    /// The weights dtype for a <c>--dtype</c> text on <paramref name="device"/>: <c>fp32</c>/<c>float32</c>,
    /// <c>bf16</c>/<c>bfloat16</c>, or <c>auto</c> (<see cref="AutoDType"/> with <paramref name="cpuFlags"/>, default
    /// this machine's <see cref="CpuFeatures.Flags"/>). Throws <see cref="ArgumentException"/> for any other text.
    /// </summary>
    public static DTypeChoice ResolveDTypeChoice(string? text, Device device, IReadOnlySet<string>? cpuFlags = null) =>
        (text ?? "auto").Trim().ToLowerInvariant() switch
        {
            "" or "auto" => AutoDType(device, cpuFlags ?? CpuFeatures.Flags),
            "fp32" or "float32" => new(ScalarType.Float32, false, "asked for"),
            "bf16" or "bfloat16" => new(ScalarType.BFloat16, false, "asked for"),
            _ => throw new ArgumentException($"--dtype {text}: expected auto, fp32 or bf16"),
        };

    /// <summary>The dtype of <see cref="ResolveDTypeChoice"/>.</summary>
    public static ScalarType ResolveDType(string? text, Device device, IReadOnlySet<string>? cpuFlags = null) =>
        ResolveDTypeChoice(text, device, cpuFlags).DType;

    /// <summary>
    /// Runs <paramref name="create"/> with <paramref name="device"/> as libtorch's default device, so that modules
    /// built inside it allocate their parameters and buffers there (no host copy of the model first). On the CPU it
    /// just runs <paramref name="create"/>. Construction is serialised: the default device is process-wide.
    /// </summary>
    public static T CreateOn<T>(Device device, Func<T> create)
    {
        if (device.type == DeviceType.CPU) return create();
        lock (DefaultDeviceLock)
        {
            var previous = get_default_device();
            set_default_device(device);
            try { return create(); }
            finally { set_default_device(previous); }
        }
    }

    private static readonly object DefaultDeviceLock = new();

    /// <summary>Whether libtorch can run on a GPU now: CUDA runtime loaded and at least one GPU visible.</summary>
    public static bool CudaUsable()
    {
        if (!CudaBuild) return false;
        try { return TryInitializeDeviceType(DeviceType.CUDA) && cuda.is_available(); }
        catch (Exception ex) when (ex is InvalidOperationException or DllNotFoundException or TypeInitializationException) { return false; }
    }
}
