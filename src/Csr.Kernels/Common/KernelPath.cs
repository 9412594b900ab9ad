namespace Csr.Kernels;

/// <summary>Which implementation of an op runs.</summary>
public enum KernelPath
{
    /// <summary>Plain TorchSharp ops: the readable definition every other path is tested against.</summary>
    Reference,
    /// <summary>Vectorised C# over tensor memory, parallel over rows (what <c>--fused</c> runs on CPU).</summary>
    Fused,
    /// <summary>ILGPU kernel on the best ILGPU accelerator (CUDA when present, else ILGPU's CPU accelerator).</summary>
    Ilgpu,
    /// <summary>CUDA C kernel from kernels/cuda (PTX) launched through Csr.Native; falls back to Fused when unavailable.</summary>
    Cuda,
}
