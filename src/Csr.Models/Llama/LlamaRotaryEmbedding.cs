using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>
/// HF LlamaRotaryEmbedding: <c>inv_freq[i] = 1 / theta^(2i/d)</c> (fp32), <c>freqs = pos * inv_freq</c>,
/// <c>emb = cat(freqs, freqs)</c>, returns cos/sin <c>[B, T, d]</c>. rope_scaling: "linear" (inv_freq / factor),
/// "dynamic" (NTK base growth when positions exceed max_position_embeddings, with HF's grow/reset state),
/// "llama3" (wavelength-banded scaling). No parameters and no state-dict entries, as in HF (inv_freq is non-persistent).
/// </summary>
public sealed class LlamaRotaryEmbedding
{
    private readonly LlamaConfig _config;
    private readonly int _dim;
    private readonly float[] _originalInvFreq;
    private float[] _invFreq;
    private long _maxSeqLenCached;
    private readonly object _lock = new();
    // the table on the device of the last forward, uploaded once per (table, device) instead of once per forward
    private (float[] Source, string Device, Tensor Table)? _onDevice;

    public LlamaRotaryEmbedding(LlamaConfig config)
    {
        _config = config;
        _dim = config.HeadDim;
        _originalInvFreq = ComputeInvFreq(config, null);
        _invFreq = _originalInvFreq;
        _maxSeqLenCached = config.MaxPositionEmbeddings;
    }

    /// <summary>The current inverse frequencies [d/2] (fp32, as HF computes them).</summary>
    public float[] InvFreq => (float[])_invFreq.Clone();

    /// <summary>inv_freq for a config; for "dynamic", <paramref name="seqLen"/> is the sequence length it is computed for.</summary>
    public static float[] ComputeInvFreq(LlamaConfig c, long? seqLen)
    {
        int dim = c.HeadDim;
        double theta = c.RopeTheta;
        var kind = c.RopeScaling?.Kind ?? "default";
        if (kind == "dynamic")
        {
            double factor = c.RopeScaling!.Factor!.Value;
            long maxPos = c.MaxPositionEmbeddings;
            long sl = seqLen is long s && s > maxPos ? s : maxPos;
            theta = theta * Math.Pow(factor * sl / maxPos - (factor - 1), dim / (double)(dim - 2));
        }
        // as HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=int64).float() / dim)) in fp32
        using var scope = torch.NewDisposeScope();
        var exponent = torch.arange(0, dim, 2, dtype: ScalarType.Int64).to_type(ScalarType.Float32) / (float)dim; // host: a float[] table
        var inv = 1.0f / torch.pow(torch.tensor((float)theta), exponent); // host: as above
        if (kind == "linear") inv = inv / (float)c.RopeScaling!.Factor!.Value;
        else if (kind == "llama3") inv = Llama3Scale(inv, c.RopeScaling!);
        return inv.to_type(ScalarType.Float32).data<float>().ToArray();
    }

    private static Tensor Llama3Scale(Tensor invFreq, RopeScaling rs)
    {
        double factor = rs.Factor!.Value, low = rs.LowFreqFactor!.Value, high = rs.HighFreqFactor!.Value;
        double oldContext = rs.OriginalMaxPositionEmbeddings!.Value;
        double lowFreqWavelen = oldContext / low;
        double highFreqWavelen = oldContext / high;
        var wavelen = 2 * Math.PI / invFreq;
        // low frequencies (long wavelengths) are divided by factor
        var scaled = torch.where(wavelen > lowFreqWavelen, invFreq / factor, invFreq);
        var smooth = (oldContext / wavelen - low) / (high - low);
        var smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
        var isMedium = (wavelen < highFreqWavelen).logical_not().logical_and((wavelen > lowFreqWavelen).logical_not());
        return torch.where(isMedium, smoothed, scaled);
    }

    /// <summary>cos, sin <c>[B, T, d]</c> in <paramref name="dtype"/> for integer positions <c>[B, T]</c>.</summary>
    public (Tensor Cos, Tensor Sin) Forward(Tensor positionIds, ScalarType dtype)
    {
        float[] inv = _invFreq;
        if (_config.RopeScaling?.Kind == "dynamic")
        {
            long seqLen = positionIds.max().item<long>() + 1;
            lock (_lock)
            {
                if (seqLen > _maxSeqLenCached)
                {
                    _invFreq = ComputeInvFreq(_config, seqLen);
                    _maxSeqLenCached = seqLen;
                }
                if (seqLen < _config.MaxPositionEmbeddings && _maxSeqLenCached > _config.MaxPositionEmbeddings)
                {
                    _invFreq = _originalInvFreq;
                    _maxSeqLenCached = _config.MaxPositionEmbeddings;
                }
                inv = _invFreq;
            }
        }
        using var scope = torch.NewDisposeScope();
        var invT = TableOn(inv, positionIds.device);                                                 // [d/2]
        var freqs = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * invT;                    // [B, T, d/2]
        var emb = torch.cat(new[] { freqs, freqs }, -1);                                             // [B, T, d]
        var cos = emb.cos().to_type(dtype);
        var sin = emb.sin().to_type(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    private Tensor TableOn(float[] inv, Device device)
    {
        lock (_lock)
        {
            var key = device.ToString();
            if (_onDevice is { } c && ReferenceEquals(c.Source, inv) && c.Device == key) return c.Table;
            var table = torch.tensor(inv, device: device).DetachFromDisposeScope();
            _onDevice?.Table.Dispose();
            _onDevice = (inv, key, table);
            return table;
        }
    }

    /// <summary><c>cat(-x2, x1)</c> on the last dim (HF rotate_half).</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        using var scope = torch.NewDisposeScope();
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        return torch.cat(new[] { x2.neg(), x1 }, -1).MoveToOuterDisposeScope();
    }

    /// <summary><c>x * cos + rotate_half(x) * sin</c> for x <c>[B, heads, T, d]</c>, cos/sin <c>[B, T, d]</c>.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var c = cos.unsqueeze(1); // [B, 1, T, d]
        var s = sin.unsqueeze(1);
        return (x * c + RotateHalf(x) * s).MoveToOuterDisposeScope();
    }
}
