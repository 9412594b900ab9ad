using Csr.Train.Pipeline;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>Spectre.Console progress bars for <see cref="IStageProgress"/>: one task per stage name.</summary>
public sealed class SpectreProgress : IStageProgress
{
    readonly ProgressContext _ctx;
    readonly Dictionary<string, ProgressTask> _tasks = new();

    SpectreProgress(ProgressContext ctx) => _ctx = ctx;

    public static T Run<T>(Func<IStageProgress, T> body) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => body(new SpectreProgress(ctx)));

    public void Start(string stage, int total)
    {
        if (_tasks.TryGetValue(stage, out var t)) { t.MaxValue = Math.Max(1, total); return; }
        _tasks[stage] = _ctx.AddTask(Markup.Escape(stage), maxValue: Math.Max(1, total));
    }

    public void Advance(string stage, int by = 1)
    {
        if (!_tasks.TryGetValue(stage, out var t)) { Start(stage, 1); t = _tasks[stage]; }
        t.Increment(by);
    }

    public void Message(string text) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
}
