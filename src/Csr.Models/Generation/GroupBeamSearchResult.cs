using Csr.Models.Llama;
using static TorchSharp.torch;

namespace Csr.Models.Generation;

/// <summary>
/// Output of <see cref="GroupBeamSearch"/>: <see cref="Sequences"/>[b][r] is the r-th best hypothesis of batch row b.
/// With <see cref="GroupBeamSearchOptions.ReturnCaches"/>, <see cref="Cache"/> has one row per returned beam (row b*R + r)
/// holding the context plus every generated token but the last; <see cref="AttentionMask"/> <c>[B*R, past+L-1]</c> marks
/// real positions (shorter beams are right-padded with mask 0); <see cref="PendingIds"/> <c>[B*R]</c> is each beam's last
/// token, not yet fed: <c>GenerationStart.FromPending(lm, Cache, AttentionMask, PendingIds)</c> continues a beam.
/// </summary>
public sealed class GroupBeamSearchResult : IDisposable
{
    public BeamSequence[][] Sequences { get; }
    public KvCache? Cache { get; }
    public Tensor? AttentionMask { get; }
    public Tensor? PendingIds { get; }
    /// <summary>Decode steps run (forward passes after the start).</summary>
    public int Steps { get; }
    /// <summary>Rows the decode forwards held in all (the beams of the batch items still searching at each step).</summary>
    public long DecodeRows { get; set; }
    /// <summary>Per batch row: the steps it took part in (<see cref="Steps"/> unless it finished before the others and
    /// its beams left the batch).</summary>
    public int[] ItemSteps { get; set; } = [];

    public GroupBeamSearchResult(BeamSequence[][] sequences, int steps, KvCache? cache = null, Tensor? mask = null, Tensor? pending = null)
    {
        Sequences = sequences;
        Steps = steps;
        Cache = cache;
        AttentionMask = mask;
        PendingIds = pending;
        AttentionMask?.DetachFromDisposeScope();
        PendingIds?.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        Cache?.Dispose();
        AttentionMask?.Dispose();
        PendingIds?.Dispose();
    }
}
