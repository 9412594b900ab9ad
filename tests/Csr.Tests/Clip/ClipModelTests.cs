using Csr.Models.Clip;
using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Clip;

public class ClipModelTests
{
    public ClipModelTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Hidden_states_follow_hf_indexing()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        var vc = ClipTestConfigs.TinyVision();
        using var m = new ClipVisionModel(vc);
        var px = randn(2, 3, vc.ImageSize, vc.ImageSize);
        var all = m.HiddenStates(px);
        Assert.Equal(vc.NumHiddenLayers + 1, all.Length);
        foreach (var h in all) Assert.Equal(new long[] { 2, vc.NumPositions, vc.HiddenSize }, h.shape);
        var vm = m.vision_model;
        // entry 0 = pre_layrnorm(embeddings); entry i+1 = layer i applied to entry i
        TensorCheck.Close(vm.pre_layrnorm.forward(vm.embeddings.forward(px)), all[0]);
        for (int i = 0; i < vc.NumHiddenLayers; i++)
            TensorCheck.Close(vm.encoder.layers[i].forward(all[i]), all[i + 1], what: $"layer {i}");
        TensorCheck.Close(all[^2], m.HiddenState(px, -2), what: "layer -2");
        TensorCheck.Close(all[1], m.HiddenState(px, 1), what: "layer 1");
        TensorCheck.Close(all[^1], m.forward(px), what: "last");
        Assert.Throws<ArgumentOutOfRangeException>(() => m.HiddenState(px, vc.NumHiddenLayers + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.HiddenState(px, -(vc.NumHiddenLayers + 2)));
    }

    [Fact]
    public void Vision_pooled_is_post_layernorm_of_the_class_token()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        var vc = ClipTestConfigs.TinyVision();
        using var m = new ClipVisionModel(vc);
        using (no_grad())
        {
            m.vision_model.post_layernorm.weight!.uniform_(0.5, 1.5);
            m.vision_model.post_layernorm.bias!.uniform_(-0.5, 0.5);
        }
        var px = randn(1, 3, vc.ImageSize, vc.ImageSize);
        var cls = TensorCheck.Floats(m.forward(px).select(1, 0));
        var w = TensorCheck.Floats(m.vision_model.post_layernorm.weight!);
        var b = TensorCheck.Floats(m.vision_model.post_layernorm.bias!);
        double mean = cls.Average(v => (double)v);
        double var_ = cls.Average(v => (v - mean) * (v - mean));
        var expected = cls.Select((v, j) => (v - mean) / Math.Sqrt(var_ + vc.LayerNormEps) * w[j] + b[j]).ToArray();
        TensorCheck.Close(expected, TensorCheck.Floats(m.Pooled(px)), 1e-5, 1e-4, "pooled");
    }

    [Fact]
    public void Text_pool_positions_hand_checked()
    {
        using var scope = NewDisposeScope();
        // row 0: max id 39 first at index 2; row 1: max id 9 at index 1
        var ids = tensor(new long[] { 0, 5, 39, 7, 39, 1, 0, 9, 3, 2, 2, 1 }).view(2, 6);
        using var legacy = new ClipTextTransformer("text_model", ClipTestConfigs.TinyText(eos: 2));
        Assert.Equal(new long[] { 2, 1 }, legacy.PoolPositions(ids).data<long>().ToArray());
        // eos 7: row 0 at 3; row 1 has none -> 0 (torch argmax of an all-zero row)
        using var eos7 = new ClipTextTransformer("text_model", ClipTestConfigs.TinyText(eos: 7));
        Assert.Equal(new long[] { 3, 0 }, eos7.PoolPositions(ids).data<long>().ToArray());
        // eos 39: first occurrence (2), not the last (4)
        using var eos39 = new ClipTextTransformer("text_model", ClipTestConfigs.TinyText(eos: 39));
        Assert.Equal(new long[] { 2, 0 }, eos39.PoolPositions(ids).data<long>().ToArray());
    }

    [Fact]
    public void Text_tower_is_causal_and_pooled_ignores_tokens_after_eos_when_masked()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(9);
        using var m = new ClipTextTransformer("text_model", ClipTestConfigs.TinyText(eos: 39));
        var a = tensor(new long[] { 0, 4, 5, 6, 39, 1, 1 }).view(1, 7);
        var b = tensor(new long[] { 0, 4, 5, 6, 39, 22, 17 }).view(1, 7);
        var ha = m.LastHiddenState(a, null);
        var hb = m.LastHiddenState(b, null);
        // positions 0..4 see only themselves and earlier tokens: identical
        TensorCheck.Close(ha.narrow(1, 0, 5), hb.narrow(1, 0, 5), 1e-6, 1e-5, "causal prefix");
        Assert.True((ha.narrow(1, 5, 2) - hb.narrow(1, 5, 2)).abs().max().item<float>() > 1e-3);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 0, 0 }).view(1, 7);
        TensorCheck.Close(m.Pooled(a, mask), m.Pooled(b, mask), 1e-6, 1e-5, "pooled");
        // the pooled row is the hidden state at the eos position
        TensorCheck.Close(ha.select(1, 4), m.Pooled(a, null), 1e-6, 1e-5, "pool position");
    }

    [Fact]
    public void Logits_per_image_equal_scaled_cosines_of_the_projected_features()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var cfg = ClipTestConfigs.Tiny();
        using var m = new ClipModel(cfg);
        using (no_grad()) m.logit_scale.fill_(Math.Log(37.5));
        var px = randn(2, 3, 12, 12);
        var ids = tensor(new long[] { 0, 5, 6, 39, 1, 0, 8, 9, 10, 39, 0, 12, 39, 1, 1 }).view(3, 5);
        var mask = ids.ne(1).to(ScalarType.Int64);
        var img = TensorCheck.Floats(m.GetImageFeatures(px)); // [2, 8]
        var txt = TensorCheck.Floats(m.GetTextFeatures(ids, mask)); // [3, 8]
        var logits = m.LogitsPerImage(px, ids, mask);
        Assert.Equal(new long[] { 2, 3 }, logits.shape);
        int p = cfg.ProjectionDim;
        var expected = new double[6];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
            {
                double dot = 0, ni = 0, nt = 0;
                for (int d = 0; d < p; d++)
                {
                    dot += img[i * p + d] * txt[j * p + d];
                    ni += img[i * p + d] * img[i * p + d];
                    nt += txt[j * p + d] * txt[j * p + d];
                }
                expected[i * 3 + j] = 37.5 * dot / Math.Sqrt(ni * nt);
            }
        TensorCheck.Close(expected, TensorCheck.Floats(logits), 1e-4, 1e-5, "logits_per_image");
    }

    [Fact]
    public void Logit_scale_initialises_from_the_config()
    {
        using var m = new ClipModel(ClipTestConfigs.Tiny());
        Assert.Equal(2.6592f, m.logit_scale.item<float>(), 5);
        Assert.Equal(0, m.logit_scale.dim());
    }

    [Fact]
    public void Bf16_model_runs_and_stays_close_to_fp32()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        using var m = new ClipModel(ClipTestConfigs.Tiny());
        var px = randn(1, 3, 12, 12);
        var ids = tensor(new long[] { 0, 5, 6, 39 }).view(1, 4);
        var f32 = m.LogitsPerImage(px, ids, null).item<float>();
        m.to(ScalarType.BFloat16);
        var bf = m.LogitsPerImage(px, ids, null).to(ScalarType.Float32).item<float>();
        Assert.True(Math.Abs(f32 - bf) < 0.05 * 14.3 + 0.05, $"fp32 {f32} vs bf16 {bf}");
    }

    [Fact]
    public void Contrastive_loss_equals_the_mean_of_both_cross_entropies()
    {
        using var scope = NewDisposeScope();
        var l = new double[,] { { 3.0, 1.0, -2.0 }, { 0.5, 0.25, 4.0 }, { -1.0, 2.0, 1.5 } };
        var t = tensor(new float[] { 3, 1, -2, 0.5f, 0.25f, 4, -1, 2, 1.5f }).view(3, 3);
        double image = 0, text = 0;
        for (int i = 0; i < 3; i++)
        {
            double zr = 0, zc = 0;
            for (int j = 0; j < 3; j++) { zr += Math.Exp(l[i, j]); zc += Math.Exp(l[j, i]); }
            image += Math.Log(zr) - l[i, i];
            text += Math.Log(zc) - l[i, i];
        }
        double expected = (image / 3 + text / 3) / 2;
        Assert.Equal(expected, ClipModel.ContrastiveLoss(t).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => ClipModel.ContrastiveLoss(zeros(2, 3)));
    }

    [Fact]
    public void A_small_gradient_step_on_the_contrastive_loss_lowers_it()
    {
        random.manual_seed(17);
        using var m = new ClipModel(ClipTestConfigs.Tiny());
        using var scope = NewDisposeScope();
        var px = randn(4, 3, 12, 12);
        var ids = tensor(new long[] { 0, 5, 2, 0, 9, 2, 0, 14, 2, 0, 30, 2 }).view(4, 3);
        var loss0 = m.ContrastiveLoss(px, ids, null);
        loss0.backward();
        Assert.True(m.logit_scale.grad is not null && m.visual_projection.weight!.grad!.abs().sum().item<float>() > 0);
        using (no_grad())
            foreach (var p in m.parameters())
                if (p.grad is not null) p.sub_(p.grad * 1e-2);
        var loss1 = m.ContrastiveLoss(px, ids, null);
        Assert.True(loss1.item<float>() < loss0.item<float>(), $"loss {loss0.item<float>()} -> {loss1.item<float>()}");
    }

    [Fact]
    public void Eager_and_sdpa_give_the_same_logits_with_padding()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(19);
        using var m = new ClipModel(ClipTestConfigs.Tiny());
        var px = randn(2, 3, 12, 12);
        var ids = tensor(new long[] { 0, 5, 6, 2, 1, 1, 0, 8, 9, 10, 11, 2 }).view(2, 6);
        var mask = ids.ne(1).to(ScalarType.Int64);
        m.AttentionImplementation = AttentionImplementation.Eager;
        Assert.Equal(AttentionImplementation.Eager, m.text_model.encoder.layers[1].self_attn.Implementation);
        var eager = m.LogitsPerImage(px, ids, mask);
        var eagerText = m.text_model.LastHiddenState(ids, mask);
        m.AttentionImplementation = AttentionImplementation.Sdpa;
        Assert.Equal(AttentionImplementation.Sdpa, m.vision_model.encoder.layers[2].self_attn.Implementation);
        TensorCheck.Close(eager, m.LogitsPerImage(px, ids, mask), 1e-4, 1e-5, "logits");
        TensorCheck.Close(eagerText, m.text_model.LastHiddenState(ids, mask), 1e-5, 1e-4, "text hidden");
    }
}
