namespace Csr.Train.Dpo;

/// <summary>DPO loss variants (TRL names): sigmoid (default), hinge, ipo.</summary>
public enum DpoLossType
{
    Sigmoid,
    Hinge,
    Ipo,
}
