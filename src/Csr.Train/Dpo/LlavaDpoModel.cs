using Csr.Kernels;
using Csr.Models.Lora;
using Csr.Train.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>
/// LLaVA as a DPO policy: LoRA on every q,k,v,o,gate,up,down projection of the language model (not lm_head),
/// the projector trained fully, the vision tower frozen. Reference = LoRA off and the projector's round-start
/// values swapped in (a copy of the projector only, never of the model).
/// </summary>
public sealed class LlavaDpoModel : IDpoModel
{
    readonly VisionLanguageModel _vlm;
    readonly FusedOps _ops;
    readonly Csr.Models.Vision.ImageProcessor _images;
    readonly List<(string Name, Parameter P, Tensor Start)> _projector;
    readonly Dictionary<string, Tensor> _pixels = new(StringComparer.Ordinal);
    readonly Queue<string> _pixelOrder = new();

    public LlavaDpoModel(VisionLanguageModel vlm, DpoOptions o)
    {
        _vlm = vlm;
        _ops = FusedOps.For(o.Fused);
        _images = vlm.Images.WithAspectRatio(o.ImageAspectRatio);
        var m = vlm.Model;
        foreach (var (_, p) in m.named_parameters()) p.requires_grad = false;
        if (!LoraInjector.Enumerate(m.language_model).Any(l => l.Module.HasLora))
            LoraInjector.Attach(m.language_model, o.LoraR, o.LoraAlpha, o.LoraDropout, LoraInjector.LlamaTargets, new Generator((ulong)o.Seed));
        foreach (var (_, p) in LoraInjector.LoraParameters(m)) p.requires_grad = true;
        _projector = m.multi_modal_projector.named_parameters()
            .Select(x => ("multi_modal_projector." + x.name, x.parameter, x.parameter.detach().clone()))
            .ToList();
        // a projector frozen by a learning rate of 0 takes no gradient (it is also left out of the optimizer)
        bool trainProjector = o.ProjectorLearningRate > 0;
        foreach (var (_, p, _) in _projector) p.requires_grad = trainProjector;
    }

    public VisionLanguageModel Vlm => _vlm;

    /// <summary>The LoRA target names (PEFT target_modules).</summary>
    public static IReadOnlyList<string> Targets => LoraInjector.LlamaTargets;

    /// <summary>The projector tensors under their model state-dict names (saved next to the adapter).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> ProjectorTensors => _projector.Select(x => (x.Name, (Tensor)x.P));

    public Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch)
    {
        var m = _vlm.Model;
        using var scope = NewDisposeScope();
        int n = batch.Count, t = batch.Max(s => s.Ids.Length);
        var ids = new long[n * t];
        var mask = new long[n * t];
        var labels = new long[n * t];
        Array.Fill(labels, Dpo.SequenceLogProbs.IgnoreIndex);
        for (int i = 0; i < n; i++)
        {
            var s = batch[i];
            var lab = Dpo.SequenceLogProbs.ShiftedLabels(s.Ids, s.ResponseStart);
            for (int k = 0; k < s.Ids.Length; k++)
            {
                ids[i * t + k] = s.Ids[k];
                mask[i * t + k] = 1;
                labels[i * t + k] = lab[k];
            }
        }
        var device = m.Device;
        var idsT = tensor(ids, device: device).reshape(n, t);                        // [N, T] right-padded with 0
        var pixels = stack(batch.Select(s => Pixels(s.ImagePath!)).ToList());         // [N, 3, S, S]
        TrimPixelCache(batch.Select(s => s.ImagePath!).ToHashSet());
        var dtype = m.multi_modal_projector.linear_1.weight!.dtype;
        var feats = m.EncodeImages(pixels.to(dtype, device));                         // [N, P, H]
        var embeds = m.EmbedInputs(idsT, feats);                                      // [N, T, H]
        var maskT = tensor(mask, device: device).reshape(n, t);
        var labelsT = tensor(labels, device: device).reshape(n, t);
        var counted = labelsT.ne(Dpo.SequenceLogProbs.IgnoreIndex);                   // [N, T]
        if (_ops.Path == KernelPath.Reference)
        {
            var logits = m.Forward(embeds, maskT, null);                              // [N, T, V]
            return _ops.SequenceLogProbs(logits, labelsT, counted).MoveToOuterDisposeScope();
        }
        // fused: the DPO log-ratio rows of the chosen path on lm_head blocks of the final hidden states, so the
        // [N, T, V] logits are never whole
        var hidden = m.ForwardHidden(embeds, maskT, null);                            // [N, T, H]
        return _ops.SequenceLogProbsFromHidden(hidden, m.LmHeadWeight, labelsT, counted).MoveToOuterDisposeScope();
    }

    /// <summary>[3, H, W] float32 pixels of a training image (the model's processor with
    /// <see cref="DpoOptions.ImageAspectRatio"/>), kept between batches; owned by this model.</summary>
    public Tensor Pixels(string path)
    {
        if (_pixels.TryGetValue(path, out var px)) return px;
        px = _images.Preprocess(path).DetachFromDisposeScope();
        _pixels[path] = px;
        _pixelOrder.Enqueue(path);
        return px;
    }

    /// <summary>Most images kept preprocessed between batches.</summary>
    public const int PixelCacheSize = 64;

    /// <summary>Evicts the oldest cached images down to <see cref="PixelCacheSize"/>, never one of the current batch
    /// (evicting inside <see cref="Pixels"/> disposed a tensor the batch had already taken once it held > 64 images).</summary>
    void TrimPixelCache(IReadOnlySet<string> inUse)
    {
        int keep = _pixelOrder.Count;
        while (_pixelOrder.Count > PixelCacheSize && keep-- > 0)
        {
            var path = _pixelOrder.Dequeue();
            if (inUse.Contains(path)) { _pixelOrder.Enqueue(path); continue; }
            if (_pixels.Remove(path, out var old)) old.Dispose();
        }
    }

    public IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr)
    {
        var lora = LoraInjector.LoraParameters(_vlm.Model).Select(x => (x.Name, x.Parameter)).ToList();
        var groups = new List<TrainableGroup> { new("lora", lora, loraLr) };
        if (projectorLr > 0) groups.Add(new("projector", _projector.Select(x => (x.Name, x.P)).ToList(), projectorLr));
        return groups;
    }

    public IDisposable ReferenceMode()
    {
        LoraInjector.SetEnabled(_vlm.Model, false);
        var current = _projector.Select(x => x.P.detach().clone()).ToList();
        using (no_grad()) foreach (var (_, p, start) in _projector) p.copy_(start);
        return new Restore(() =>
        {
            using (no_grad()) for (int i = 0; i < _projector.Count; i++) _projector[i].P.copy_(current[i]);
            foreach (var c in current) c.Dispose();
            LoraInjector.SetEnabled(_vlm.Model, true);
        });
    }

    public void SetTraining(bool training)
    {
        _vlm.Model.train(training);
        _vlm.Model.vision_tower.eval();
    }

    sealed class Restore(Action a) : IDisposable { public void Dispose() => a(); }
}
