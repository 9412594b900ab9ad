namespace Csr.Kernels;

/// <summary>DPO loss variants (TRL names).</summary>
public enum DpoLossType
{
    /// <summary><c>-log sigmoid(beta * h)</c> (with optional label smoothing, TRL's "sigmoid").</summary>
    Sigmoid,
    /// <summary><c>relu(1 - beta * h)</c> (SLiC-style hinge).</summary>
    Hinge,
    /// <summary><c>(h - 1 / (2 beta))^2</c> (IPO).</summary>
    Ipo,
}
