using Csr.Train.Sampling;
using TorchSharp;

namespace Csr.Tests.Pipeline;

/// <summary>The default number of trees sampled together: by device, capped by the KV-cache budget.</summary>
public class BatchPromptsDefaultTests
{
    static readonly SampleOptions Official = new();

    [Fact]
    public void Small_models_batch_16_trees_on_a_cpu_and_32_on_a_gpu()
    {
        // the embedded world's LLaVA: 2 layers, 4 KV heads of 32, fp32, 16 image tokens + 64
        long kv = Official.KvBytesPerTree(2, 4, 32, 4, 16 + 64);
        Assert.InRange(kv, 1L << 20, 64L << 20);
        Assert.Equal(16, Official.BatchPromptsFor(DeviceType.CPU, kv));
        Assert.Equal(32, Official.BatchPromptsFor(DeviceType.CUDA, kv));
    }

    [Fact]
    public void The_kv_budget_caps_large_models_at_one_tree_at_least()
    {
        // LLaVA-1.5-7B: 32 layers, 32 KV heads of 128, 576 image tokens + 64; bf16 on a GPU, fp32 on a CPU
        Assert.Equal(2, Official.BatchPromptsFor(DeviceType.CUDA, Official.KvBytesPerTree(32, 32, 128, 2, 576 + 64)));
        Assert.Equal(1, Official.BatchPromptsFor(DeviceType.CPU, Official.KvBytesPerTree(32, 32, 128, 4, 576 + 64)));
    }

    [Fact]
    public void An_explicit_batch_prompts_wins()
    {
        var o = Official with { BatchPrompts = 3 };
        Assert.Equal(3, o.BatchPromptsFor(DeviceType.CPU, 1L << 40));
    }
}
