using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Csr.Native.Profiling;

/// <summary>
/// NVTX ranges for Nsight Systems / Nsight Compute timelines: <c>using var r = Nvtx.Range("sample");</c>.
/// <para>
/// <c>libnvToolsExt.so.1</c> is looked up once, on the first range, with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>;
/// ranges are pushed only when it loads, exports <c>nvtxRangePushA</c> / <c>nvtxRangePop</c>, and a profiler
/// has attached its NVTX injection (the environment variable <c>NVTX_INJECTION64_PATH</c>, which nsys and ncu
/// set in the processes they launch). Otherwise <see cref="Range(string)"/> returns an inert struct: no native
/// call, no allocation. When enabled, the name is encoded to UTF-8 on the stack (at most
/// <see cref="MaxNameChars"/> characters), so a range allocates nothing either way.
/// </para>
/// <para>NVTX ranges are per thread: dispose a range on the thread that opened it (a <c>using</c> does).</para>
/// </summary>
public static unsafe class Nvtx
{
    /// <summary>The NVTX v3 library as the CUDA toolkit and Debian's <c>libnvtoolsext1</c> install it.</summary>
    public const string LibraryName = "libnvToolsExt.so.1";

    /// <summary>The environment variable a profiler sets to inject its NVTX implementation.</summary>
    public const string InjectionVariable = "NVTX_INJECTION64_PATH";

    /// <summary>Longer names are cut to this many characters.</summary>
    public const int MaxNameChars = 120;

    const int Unprobed = 0, Off = 1, On = 2;

    static readonly object Gate = new();
    static volatile int _state = Unprobed;
    static string _library = LibraryName;
    static bool? _profilerOverride;
    static string _reason = "";
    static delegate* unmanaged[Cdecl]<byte*, int> _push;
    static delegate* unmanaged[Cdecl]<int> _pop;

    /// <summary>True when ranges reach a profiler (probes on first use).</summary>
    public static bool Enabled => (_state == Unprobed ? Probe() : _state) == On;

    /// <summary>Why ranges are off ("" when they are on), for <c>csr-train info</c>.</summary>
    public static string Status
    {
        get
        {
            _ = Enabled;
            return _reason;
        }
    }

    /// <summary>Opens a range named <paramref name="name"/> until the returned struct is disposed.</summary>
    public static NvtxRange Range(string name)
    {
        if (!Enabled) return default;
        Push(name, hasIndex: false, 0);
        return new NvtxRange(open: true);
    }

    /// <summary>Opens a range named "<paramref name="name"/> <paramref name="index"/>" (e.g. "dpo step 17"), formatting on the stack.</summary>
    public static NvtxRange Range(string name, int index)
    {
        if (!Enabled) return default;
        Push(name, hasIndex: true, index);
        return new NvtxRange(open: true);
    }

    internal static void Pop()
    {
        var pop = _pop;
        if (pop != null) pop();
    }

    static void Push(string name, bool hasIndex, int index)
    {
        Span<char> chars = stackalloc char[MaxNameChars + 12];
        int n = Math.Min(name.Length, MaxNameChars);
        name.AsSpan(0, n).CopyTo(chars);
        if (hasIndex)
        {
            chars[n++] = ' ';
            index.TryFormat(chars[n..], out int written, default, CultureInfo.InvariantCulture);
            n += written;
        }
        Span<byte> utf8 = stackalloc byte[(MaxNameChars + 12) * 3 + 1];
        int len = Encoding.UTF8.GetBytes(chars[..n], utf8);
        utf8[len] = 0;
        fixed (byte* p = utf8) _push(p);
    }

    static int Probe()
    {
        lock (Gate)
        {
            if (_state != Unprobed) return _state;
            bool profiler = _profilerOverride ?? !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(InjectionVariable));
            if (!profiler)
            {
                _reason = $"no profiler attached ({InjectionVariable} is not set)";
                return _state = Off;
            }
            if (!NativeLibrary.TryLoad(_library, out var handle))
            {
                _reason = $"{_library} not found (on Debian: apt-get install libnvtoolsext1)";
                return _state = Off;
            }
            if (!NativeLibrary.TryGetExport(handle, "nvtxRangePushA", out var push) || !NativeLibrary.TryGetExport(handle, "nvtxRangePop", out var pop))
            {
                _reason = $"{_library} exports no nvtxRangePushA / nvtxRangePop";
                return _state = Off;
            }
            _push = (delegate* unmanaged[Cdecl]<byte*, int>)push;
            _pop = (delegate* unmanaged[Cdecl]<int>)pop;
            _reason = "";
            return _state = On;
        }
    }

    /// <summary>
    /// Forgets the probe so the next range probes <paramref name="library"/> again; <paramref name="profilerAttached"/>
    /// overrides the environment check (null = read <see cref="InjectionVariable"/>). For tests.
    /// </summary>
    internal static void ResetProbe(string library = LibraryName, bool? profilerAttached = null)
    {
        lock (Gate)
        {
            _library = library;
            _profilerOverride = profilerAttached;
            _push = null;
            _pop = null;
            _reason = "";
            _state = Unprobed;
        }
    }
}

/// <summary>An open NVTX range (or an inert one when profiling is off); disposing it closes the range.</summary>
public readonly struct NvtxRange : IDisposable
{
    readonly bool _open;

    internal NvtxRange(bool open) => _open = open;

    /// <summary>Closes the range (pops it) when it was opened.</summary>
    public void Dispose()
    {
        if (_open) Nvtx.Pop();
    }
}
