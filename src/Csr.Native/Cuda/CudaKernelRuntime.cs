using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Csr.Native.Cuda;

/// <summary>
/// Runs our own nvcc-built PTX (kernels/cuda -&gt; build/ptx) through ILGPU's public CUDA driver API
/// (<see cref="CudaAPI.CurrentAPI"/>): an ILGPU CUDA accelerator owns the context; modules are loaded once
/// and cached; functions are looked up once. <see cref="TryGet"/> never throws: no GPU, no driver or no
/// PTX gives null and a reason the caller logs once before falling back to the CPU.
/// <para>PTX search order: <c>CSR_PTX_DIR</c>, <c>&lt;app&gt;/ptx</c>, then <c>build/ptx</c> in the app folder
/// and each folder above it (so a repo checkout finds the output of eng/build-ptx.sh).</para>
/// </summary>
public sealed class CudaKernelRuntime
{
    private static readonly object Gate = new();
    private static CudaKernelRuntime? _instance;
    private static string? _failure;

    private readonly Context _context;
    private readonly CudaAccelerator _accelerator;
    private readonly ConcurrentDictionary<string, CudaModuleHandle> _modules = new();
    private readonly ConcurrentDictionary<(string, string), IntPtr> _functions = new();

    private CudaKernelRuntime(Context context, CudaAccelerator accelerator)
    {
        _context = context;
        _accelerator = accelerator;
    }

    /// <summary>The device name (e.g. "NVIDIA H100 80GB HBM3").</summary>
    public string DeviceName => _accelerator.Name;

    /// <summary>The shared runtime, or null with <paramref name="reason"/> when no CUDA device is usable.</summary>
    public static CudaKernelRuntime? TryGet(out string reason)
    {
        lock (Gate)
        {
            if (_instance is not null) { reason = ""; _instance.Bind(); return _instance; }
            if (_failure is not null) { reason = _failure; return null; }
            try
            {
                var ctx = Context.Create(b => b.Cuda());
                var devs = ctx.GetCudaDevices();
                CudaDevice? dev = devs.Count > 0 ? devs[0] : null;
                if (dev is null)
                {
                    ctx.Dispose();
                    _failure = "no CUDA device found";
                    reason = _failure;
                    return null;
                }
                var acc = dev.CreateCudaAccelerator(ctx);
                _instance = new CudaKernelRuntime(ctx, acc);
                reason = "";
                return _instance;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _failure = $"CUDA unavailable ({ex.GetType().Name}: {ex.Message})";
                reason = _failure;
                return null;
            }
        }
    }

    /// <summary>Theoretical DRAM bandwidth in GB/s (2 x memory clock x bus width), or 0 if the driver does not say.</summary>
    public double PeakMemoryBandwidthGBs()
    {
        try
        {
            Bind();
            CudaAPI.CurrentAPI.GetDevice(out int dev, 0);
            double clockKHz = CudaAPI.CurrentAPI.GetDeviceAttribute(DeviceAttributeKind.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev);
            double busBits = CudaAPI.CurrentAPI.GetDeviceAttribute(DeviceAttributeKind.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev);
            return 2 * clockKHz * 1e3 * busBits / 8 / 1e9;
        }
        catch (Exception) { return 0; }
    }

    /// <summary>Makes this runtime's CUDA context current on the calling thread.</summary>
    public void Bind() => _accelerator.Bind();

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

    /// <summary>Launches a kernel on the default stream and waits for it.</summary>
    public void Launch(IntPtr function, (int X, int Y, int Z) grid, (int X, int Y, int Z) block, int sharedBytes, params object[] args)
    {
        Bind();
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
