using Csr.Train.Pipeline;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>
/// Spectre.Console progress bars for <see cref="IStageProgress"/>: one task per stage name.
/// Rendering happens on the calling thread only (AutoRefresh off, throttled manual refresh). A render thread that
/// allocates while the main thread is inside a libtorch call can trigger a GC there, and TorchSharp 0.107 lets the
/// finalizer free implicit Scalars (the alpha of add/sub) that the native call is still reading: intermittent
/// "Unknown scalar type" errors. With no background allocation that window does not open.
/// </summary>
public sealed class SpectreProgress : IStageProgress
{
    readonly ProgressContext _ctx;
    readonly IAnsiConsole _console;
    readonly Dictionary<string, ProgressTask> _tasks = new();
    long _lastRefresh;

    void Refresh(bool force = false)
    {
        long now = Environment.TickCount64;
        if (!force && now - _lastRefresh < 250) return;
        _lastRefresh = now;
        _ctx.Refresh();
    }

    SpectreProgress(ProgressContext ctx, IAnsiConsole console) => (_ctx, _console) = (ctx, console);

    /// <summary>Runs <paramref name="body"/> with bars drawn on <paramref name="console"/> (a terminal).</summary>
    public static T Run<T>(IAnsiConsole console, Func<IStageProgress, T> body) =>
        console.Progress()
            .AutoClear(false)
            .AutoRefresh(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => body(new SpectreProgress(ctx, console)));

    public void Start(string stage, int total)
    {
        if (_tasks.TryGetValue(stage, out var t)) { t.MaxValue = Math.Max(1, total); return; }
        _tasks[stage] = _ctx.AddTask(Markup.Escape(stage), maxValue: Math.Max(1, total));
        Refresh(force: true);
    }

    public void Advance(string stage, int by = 1)
    {
        if (!_tasks.TryGetValue(stage, out var t)) { Start(stage, 1); t = _tasks[stage]; }
        t.Increment(by);
        Refresh(force: t.Value >= t.MaxValue);
    }

    public void Message(string text) => _console.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
}
