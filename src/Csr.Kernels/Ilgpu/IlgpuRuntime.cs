using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Csr.Kernels;

/// <summary>
/// One ILGPU context per process and one accelerator: CUDA when a CUDA device is present (and
/// <c>CSR_ILGPU=cpu</c> is not set), else ILGPU's CPU accelerator (what CI runs). Kernels are compiled
/// once per accelerator and cached (<see cref="Kernel{T}"/>); never compile inside a timed loop.
/// </summary>
public static class IlgpuRuntime
{
    private static readonly object Gate = new();
    private static Context? _context;
    private static Accelerator? _accelerator;
    private static readonly ConcurrentDictionary<(Accelerator, string), Delegate> Kernels = new();

    /// <summary>
    /// The accelerator the ILGPU paths run on (created on first use), bound to the calling thread: on a GPU,
    /// Csr.Native's PTX runtime owns a second CUDA context, so each use makes this one current again.
    /// </summary>
    public static Accelerator Accelerator
    {
        get
        {
            lock (Gate)
            {
                if (_accelerator is not null) { _accelerator.Bind(); return _accelerator; }
                _context = Context.Create(b => b.Default().EnableAlgorithms().Math(MathMode.Default));
                bool forceCpu = string.Equals(Environment.GetEnvironmentVariable("CSR_ILGPU"), "cpu", StringComparison.OrdinalIgnoreCase);
                Device? cuda = forceCpu ? null : _context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda);
                _accelerator = cuda is not null
                    ? cuda.CreateAccelerator(_context)
                    : _context.GetPreferredDevice(preferCPU: true).CreateAccelerator(_context);
                return _accelerator;
            }
        }
    }

    /// <summary>The kernel compiled for the current accelerator, loaded once and cached under <paramref name="key"/>.</summary>
    public static T Kernel<T>(string key, Func<Accelerator, T> load) where T : Delegate
    {
        var acc = Accelerator;
        return (T)Kernels.GetOrAdd((acc, key), k => load(k.Item1));
    }

    /// <summary>A device buffer holding a copy of <paramref name="length"/> elements at <paramref name="src"/>.</summary>
    internal static unsafe MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(T* src, long length) where T : unmanaged
    {
        var buf = Accelerator.Allocate1D<T>(Math.Max(1, length));
        if (length > 0) buf.View.SubView(0, length).CopyFromCPU(ref *src, length);
        return buf;
    }

    /// <summary>Copies <paramref name="length"/> elements of a device buffer into host memory.</summary>
    internal static unsafe void Download<T>(MemoryBuffer1D<T, Stride1D.Dense> buf, T* dst, long length) where T : unmanaged
    {
        if (length > 0) buf.View.SubView(0, length).CopyToCPU(ref *dst, length);
    }
}
