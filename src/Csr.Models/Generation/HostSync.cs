using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>
/// The host reads of the generation path, counted. Each read of a device tensor's values on the host waits for the
/// device to finish the work queued before it, so generation reads only where a decision needs values (which tokens a
/// beam keeps, whether a row stopped) and does it through <see cref="Read{T}"/>, which counts it per thread.
/// Small host-to-device uploads of bookkeeping (token ids, beam scores, reorder indices) are counted as
/// <see cref="Uploads"/>: from pageable memory they also wait for the device's queue.
/// </summary>
public static class HostSync
{
    [ThreadStatic] private static long _reads;
    [ThreadStatic] private static long _uploads;

    /// <summary>Host reads on this thread since it started (or since <see cref="Reset"/>).</summary>
    public static long Reads => _reads;

    /// <summary>Host-to-device uploads of generation bookkeeping on this thread.</summary>
    public static long Uploads => _uploads;

    public static void Reset() { _reads = 0; _uploads = 0; }

    /// <summary>Copies <paramref name="t"/>'s values to a host array (one wait for the device when it is a GPU).</summary>
    public static T[] Read<T>(Tensor t) where T : unmanaged
    {
        _reads++;
        if (t.device_type == DeviceType.CPU) return t.data<T>().ToArray();
        using var host = t.cpu();
        return host.data<T>().ToArray();
    }

    /// <summary>A host array as a tensor on <paramref name="device"/> (counted as one upload).</summary>
    public static Tensor Upload(long[] values, Device device)
    {
        _uploads++;
        return torch.tensor(values, device: device);
    }

    /// <inheritdoc cref="Upload(long[], Device)"/>
    public static Tensor Upload(double[] values, Device device)
    {
        _uploads++;
        return torch.tensor(values, device: device);
    }

    /// <inheritdoc cref="Upload(long[], Device)"/>
    public static Tensor Upload(float[] values, Device device)
    {
        _uploads++;
        return torch.tensor(values, device: device);
    }
}
