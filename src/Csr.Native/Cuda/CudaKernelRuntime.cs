using System.Collections.Concurrent;
using ILGPU.Runtime.Cuda;

namespace Csr.Native.Cuda;

/// <summary>
/// Runs our own nvcc-built PTX (kernels/cuda -&gt; build/ptx) in the <b>primary context</b> of a CUDA device
/// (cuDevicePrimaryCtxRetain: the context the CUDA runtime, and so libtorch, uses), so kernels read and write
/// libtorch's device tensors in place. Driver calls go through ILGPU's public CUDA driver API
/// (<see cref="CudaAPI.CurrentAPI"/>) plus the primary-context entry points of <see cref="CudaDriver"/>. One
/// runtime per device ordinal, holding its primary context retained for the life of the process; modules are
/// loaded once per runtime and cached; functions are looked up once.
/// <see cref="TryGet(int, out string)"/> never throws: no GPU, no driver or no PTX gives null and a reason.
/// <para>PTX search order: <c>CSR_PTX_DIR</c>, <c>&lt;app&gt;/ptx</c>, then <c>build/ptx</c> in the app folder
/// and each folder above it (so a repo checkout finds the output of eng/build-ptx.sh).</para>
/// </summary>
public sealed class CudaKernelRuntime
{
    private static readonly object Gate = new();
    private static readonly Dictionary<int, CudaKernelRuntime> Instances = new();
    private static readonly Dictionary<int, string> Failures = new();

    private readonly IntPtr _context;
    private readonly ConcurrentDictionary<string, CudaModuleHandle> _modules = new();
    private readonly ConcurrentDictionary<(string, string), IntPtr> _functions = new();

    private CudaKernelRuntime(int ordinal, int device, IntPtr context, string name)
    {
        DeviceIndex = ordinal;
        _device = device;
        _context = context;
        DeviceName = name;
    }

    private readonly int _device;

    /// <summary>The device name (e.g. "NVIDIA H100 80GB HBM3").</summary>
    public string DeviceName { get; }

    /// <summary>The CUDA device ordinal (libtorch's <c>cuda:N</c> index).</summary>
    public int DeviceIndex { get; }

    /// <summary>The runtime of device 0, or null with <paramref name="reason"/>.</summary>
    public static CudaKernelRuntime? TryGet(out string reason) => TryGet(0, out reason);

    /// <summary>The runtime of device <paramref name="deviceIndex"/>, or null with <paramref name="reason"/> when it is not usable.</summary>
    public static CudaKernelRuntime? TryGet(int deviceIndex, out string reason)
    {
        lock (Gate)
        {
            if (Instances.TryGetValue(deviceIndex, out var rt)) { reason = ""; rt.Bind(); return rt; }
            if (Failures.TryGetValue(deviceIndex, out var failure)) { reason = failure; return null; }
            try
            {
                if (!CudaDriver.TryLoad(out reason)) { Failures[deviceIndex] = reason; return null; }
                Check(CudaAPI.CurrentAPI.GetDeviceCount(out int count), "cuDeviceGetCount");
                if (deviceIndex < 0 || deviceIndex >= count)
                {
                    reason = Failures[deviceIndex] = count == 0 ? "no CUDA device found" : $"no CUDA device {deviceIndex} ({count} present)";
                    return null;
                }
                Check(CudaDriver.DeviceGet(deviceIndex, out int dev), "cuDeviceGet");
                Check(CudaDriver.PrimaryContextRetain(dev, out IntPtr ctx), "cuDevicePrimaryCtxRetain");
                CudaAPI.CurrentAPI.GetDeviceName(out string? name, dev);
                rt = new CudaKernelRuntime(deviceIndex, dev, ctx, name ?? $"cuda:{deviceIndex}");
                rt.Bind();
                Instances[deviceIndex] = rt;
                reason = "";
                return rt;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                reason = Failures[deviceIndex] = $"CUDA unavailable ({ex.GetType().Name}: {ex.Message})";
                return null;
            }
        }
    }

    /// <summary>Theoretical DRAM bandwidth in GB/s (2 x memory clock x bus width), or 0 if the driver does not say.</summary>
    public double PeakMemoryBandwidthGBs()
    {
        try
        {
            int dev = _device;
            double clockKHz = CudaAPI.CurrentAPI.GetDeviceAttribute(DeviceAttributeKind.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev);
            double busBits = CudaAPI.CurrentAPI.GetDeviceAttribute(DeviceAttributeKind.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev);
            return 2 * clockKHz * 1e3 * busBits / 8 / 1e9;
        }
        catch (Exception) { return 0; }
    }

    /// <summary>Makes this device's primary context current on the calling thread.</summary>
    public void Bind() => Check(CudaDriver.SetCurrent(_context), "cuCtxSetCurrent");

    /// <summary>Finds <c>&lt;name&gt;.ptx</c> on the search path, or null.</summary>
    public static string? FindPtx(string name)
    {
        var file = name + ".ptx";
        var env = Environment.GetEnvironmentVariable("CSR_PTX_DIR");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, file))) return Path.Combine(env, file);
        var app = AppContext.BaseDirectory;
        if (File.Exists(Path.Combine(app, "ptx", file))) return Path.Combine(app, "ptx", file);
        for (var dir = new DirectoryInfo(app); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "build", "ptx", file);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>The function <paramref name="function"/> of module <paramref name="module"/>, or null with a reason.</summary>
    public IntPtr? TryGetFunction(string module, string function, out string reason)
    {
        reason = "";
        if (_functions.TryGetValue((module, function), out var f)) return f;
        lock (Gate)
        {
            Bind();
            if (!_modules.TryGetValue(module, out var mod))
            {
                var path = FindPtx(module);
                if (path is null) { reason = $"PTX {module}.ptx not found (run eng/build-ptx.sh or set CSR_PTX_DIR)"; return null; }
                var err = CudaAPI.CurrentAPI.LoadModule(out IntPtr m, File.ReadAllText(path), out string? log);
                if (err != CudaError.CUDA_SUCCESS) { reason = $"loading {path} failed: {err} {log?.TrimEnd('\0')}"; return null; }
                mod = new CudaModuleHandle(m, module);
                _modules[module] = mod;
            }
            var e2 = CudaAPI.CurrentAPI.GetModuleFunction(out IntPtr fn, mod.DangerousGetHandle(), function);
            if (e2 != CudaError.CUDA_SUCCESS) { reason = $"{module}.ptx has no function {function}: {e2}"; return null; }
            _functions[(module, function)] = fn;
            return fn;
        }
    }

    /// <summary>
    /// Launches a kernel on the legacy default stream of this device's primary context, ordered with libtorch's
    /// work by a context synchronise before the launch (whatever libtorch queued on any stream of the context,
    /// e.g. the kernels that produced the inputs, has finished) and after it (the outputs are complete before
    /// libtorch or the host reads them). Arguments: see <see cref="CudaKernelArgs"/>.
    /// </summary>
    public void Launch(IntPtr function, (int X, int Y, int Z) grid, (int X, int Y, int Z) block, int sharedBytes, params object[] args)
    {
        Bind();
        Check(CudaAPI.CurrentAPI.SynchronizeContext(), "cuCtxSynchronize before launch");
        using var a = new CudaKernelArgs(args);
        Check(CudaAPI.CurrentAPI.LaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedBytes,
            IntPtr.Zero, a.Pointer, IntPtr.Zero), "cuLaunchKernel");
        Check(CudaAPI.CurrentAPI.SynchronizeContext(), "cuCtxSynchronize after launch");
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the call when the driver reports an error.</summary>
    public static void Check(CudaError error, string what)
    {
        if (error != CudaError.CUDA_SUCCESS)
            throw new InvalidOperationException($"{what} failed: {error} ({CudaAPI.CurrentAPI.GetErrorString(error)})");
    }
}
