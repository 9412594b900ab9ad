using CommandLine;
using Csr.Kernels;
using Csr.Train.Dpo;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>DPO options shared by dpo and run (defaults: official scripts/run_train.sh).</summary>
public abstract class DpoVerbBase : PromptStageVerbBase
{
    [Option("beta", Default = 0.1, HelpText = "DPO beta.")]
    public double Beta { get; set; } = 0.1;

    [Option("loss", Default = DpoLossType.Sigmoid, HelpText = "sigmoid, hinge or ipo.")]
    public DpoLossType Loss { get; set; } = DpoLossType.Sigmoid;

    [Option("lr", Default = 1e-7, HelpText = "LoRA learning rate.")]
    public double LearningRate { get; set; } = 1e-7;

    [Option("mm-projector-lr", Default = 2e-5, HelpText = "Projector learning rate (0 = projector frozen).")]
    public double ProjectorLearningRate { get; set; } = 2e-5;

    [Option("warmup-ratio", Default = 0.03, HelpText = "Share of the steps with a linear learning-rate warmup (then cosine decay).")]
    public double WarmupRatio { get; set; } = 0.03;

    [Option("weight-decay", Default = 0.0, HelpText = "AdamW weight decay.")]
    public double WeightDecay { get; set; }

    [Option("epochs", Default = 1, HelpText = "Epochs over the preference pairs.")]
    public int Epochs { get; set; } = 1;

    [Option("batch-size", Default = 1, HelpText = "Preference pairs per forward pass.")]
    public int BatchSize { get; set; } = 1;

    [Option("grad-accum", Default = 1, HelpText = "Batches per optimizer step (gradient accumulation).")]
    public int GradAccum { get; set; } = 1;

    [Option("max-grad-norm", Default = 1.0, HelpText = "Global gradient-norm clip (0 = off).")]
    public double MaxGradNorm { get; set; } = 1.0;

    [Option("save-steps", Default = 100, HelpText = "Checkpoint every N optimizer steps.")]
    public int SaveSteps { get; set; } = 100;

    [Option("lora-r", Default = 128, HelpText = "LoRA rank.")]
    public int LoraR { get; set; } = 128;

    [Option("lora-alpha", Default = 256.0, HelpText = "LoRA alpha (the update is scaled by alpha / r).")]
    public double LoraAlpha { get; set; } = 256;

    [Option("lora-dropout", Default = 0.05, HelpText = "Dropout on the LoRA input.")]
    public double LoraDropout { get; set; } = 0.05;

    [Option("max-steps", HelpText = "Stop after N optimizer steps.")]
    public int? MaxSteps { get; set; }

    [Option("model-max-length", Default = 1024, HelpText = "DPO sequence length limit (tokens).")]
    public int ModelMaxLength { get; set; } = 1024;

    /// <param name="imageAspectRatio">the parsed image aspect ratio of the DPO stage ("pad" or "none")</param>
    public DpoOptions DpoOptions(string imageAspectRatio) => new()
    {
        Beta = Beta, Loss = Loss, LearningRate = LearningRate, ProjectorLearningRate = ProjectorLearningRate, WarmupRatio = WarmupRatio,
        WeightDecay = WeightDecay, Epochs = Epochs, BatchSize = BatchSize, GradientAccumulation = GradAccum, MaxGradNorm = MaxGradNorm,
        SaveSteps = SaveSteps, LoraR = LoraR, LoraAlpha = LoraAlpha, LoraDropout = LoraDropout, Seed = Seed, Fused = Fused, MaxSteps = MaxSteps,
        ImageAspectRatio = imageAspectRatio,
    };
}

[Verb("dpo", HelpText = "LoRA DPO on a preference file; writes the adapter in the PEFT layout to OUT/adapter (--resume continues).")]
public sealed class DpoVerb : DpoVerbBase, ICliVerb
{
    [Option("model", Required = true, HelpText = "HF llava model directory (the round base).")]
    public string Model { get; set; } = "";

    [Option("prefs", Required = true, HelpText = "Preference JSON (id, image, conversations, rejected_conversations).")]
    public string Prefs { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory (checkpoints, log, adapter).")]
    public string Out { get; set; } = "";

    [Option("resume", Default = false, HelpText = "Continue from the latest checkpoint in OUT.")]
    public bool Resume { get; set; }

    [Option("image-aspect-ratio", Default = "pad", HelpText = "Image preprocessing: pad (pad to square with the CLIP mean colour, then resize + center crop, as the official training's --image_aspect_ratio pad) or none (resize + center crop only).")]
    public string ImageAspectRatio { get; set; } = "pad";

    /// <summary>The DPO options these arguments give.</summary>
    public DpoOptions Options() => DpoOptions(ImageAspectRatioOption.Parse(ImageAspectRatio, "--image-aspect-ratio"));

    public int Execute()
    {
        var pairs = PreferenceFile.Read(Prefs);
        if (Limit is int n) pairs = pairs.Take(n).ToList();
        var options = Options();
        options.Validate();
        var images = ImageRule();
        var device = ResolveDevice();
        TorchSharp.torch.manual_seed(Seed);
        using var vlm = VisionLanguageModel.Load(Model, ScalarType(device), device);
        var result = Cli.WithProgress(p =>
        {
            p.Start("dpo", new DpoTrainer(new NoPolicy(), options, Out).TotalSteps(pairs.Count));
            try
            {
                return DpoStage.Run(vlm, pairs, Out, options, PromptTemplate(), images, Resume,
                    onStep: _ => p.Advance("dpo"), onReference: p.Counter("reference log-probs"), maxLength: ModelMaxLength,
                    modelPath: Model, onNotice: p.Message);
            }
            catch (DpoDivergedException ex) { throw new CsrUserException(ex.Message, ex); }
        });
        var last = result.Training.Log.LastOrDefault();
        if (result.Training.StartStep > 0)
            Cli.Notice($"dpo: resumed from {DpoCheckpoint.Prefix}{result.Training.StartStep} ({result.Training.StartStep} of {result.Training.Steps} steps done)");
        var logFile = Path.Combine(Out, DpoTrainer.LogFileName);
        Cli.Summary("dpo", new Dictionary<string, object?>
        {
            ["pairs"] = result.Pairs, ["steps"] = result.Training.Steps, ["resumed_at"] = result.Training.StartStep,
            ["reference_log_probs_computed"] = result.Training.ReferenceComputed, ["final_loss"] = last?.Loss,
            ["final_rewards_margins"] = last?.RewardsMargins, ["image_aspect_ratio"] = options.ImageAspectRatio,
            ["adapter"] = result.AdapterDir, ["log"] = logFile,
        }, console =>
        {
            var table = new Table().AddColumns("dpo", "value");
            table.AddRow("pairs", result.Pairs.ToString());
            table.AddRow("steps (resumed at)", $"{result.Training.Steps} ({result.Training.StartStep})");
            table.AddRow("reference log-probs computed", result.Training.ReferenceComputed.ToString());
            table.AddRow("final loss", last?.Loss.ToString("F4") ?? "-");
            table.AddRow("final rewards/margins", last?.RewardsMargins.ToString("F4") ?? "-");
            table.AddRow("image aspect ratio", options.ImageAspectRatio);
            table.AddRow("adapter", Markup.Escape(result.AdapterDir));
            table.AddRow("log", Markup.Escape(logFile));
            console.Write(table);
        });
        return 0;
    }

    sealed class NoPolicy : IDpoModel
    {
        public TorchSharp.torch.Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch) => throw new NotSupportedException();
        public IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr) => [];
        public IDisposable ReferenceMode() => throw new NotSupportedException();
        public void SetTraining(bool training) { }
    }
}
