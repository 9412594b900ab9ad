using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>A group of trainable parameters with its own learning rate (LoRA; the projector at mm_projector_lr).</summary>
public sealed record TrainableGroup(string Name, IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> Parameters, double LearningRate);

/// <summary>
/// What the DPO trainer needs from a policy model. The LLaVA implementation puts LoRA on the language
/// model's linear layers and trains the projector; the reference is the same weights with LoRA off and the
/// projector at its round-start values (never a second model copy).
/// </summary>
public interface IDpoModel
{
    /// <summary>[N] summed log-probs of each sequence's response tokens (prompt and image positions masked); differentiable.</summary>
    Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch);

    /// <summary>Trainable parameter groups; <paramref name="loraLr"/> and <paramref name="projectorLr"/> are the options' rates.</summary>
    IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr);

    /// <summary>Switch to the reference (LoRA off, round-start projector) until disposed.</summary>
    IDisposable ReferenceMode();

    /// <summary>Train (dropout on) or eval mode.</summary>
    void SetTraining(bool training);
}
