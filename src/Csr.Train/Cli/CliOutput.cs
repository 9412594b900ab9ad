using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Csr.Train.Pipeline;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>
/// Where a verb writes, and how: progress, notices and the final summary.
/// <list type="bullet">
/// <item>Default: progress and notices on stdout, as bars when stdout is a terminal and as log lines
/// (<see cref="LineProgress"/>) when it is redirected; the summary (tables) on stdout.</item>
/// <item><c>--quiet</c>: no progress and no notices; errors (stderr) and the summary only.</item>
/// <item><c>--json</c>: stdout holds one line, the summary as a JSON object (<c>{"verb": ..., ...}</c>); progress and
/// notices go to stderr (bars on a terminal, lines when redirected; none with <c>--quiet</c>).</item>
/// </list>
/// Errors are printed by <see cref="CliApp"/> to stderr in every mode.
/// </summary>
public sealed class CliOutput
{
    public CliOutput(TextWriter stdout, TextWriter stderr, bool stdoutRedirected, bool stderrRedirected, bool quiet = false, bool json = false)
    {
        Out = stdout;
        Err = stderr;
        OutRedirected = stdoutRedirected;
        ErrRedirected = stderrRedirected;
        Quiet = quiet;
        Json = json;
    }

    /// <summary>The process's console streams, with their redirection as the OS reports it.</summary>
    public static CliOutput ForConsole(bool quiet = false, bool json = false) =>
        new(Console.Out, Console.Error, Console.IsOutputRedirected, Console.IsErrorRedirected, quiet, json);

    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public bool OutRedirected { get; }
    public bool ErrRedirected { get; }
    public bool Quiet { get; }
    public bool Json { get; }

    /// <summary>The stream progress and notices go to: stderr with --json (stdout holds only the summary), else stdout.</summary>
    TextWriter ProgressWriter => Json ? Err : Out;
    bool ProgressRedirected => Json ? ErrRedirected : OutRedirected;

    IAnsiConsole? _summaryConsole, _progressConsole;

    /// <summary>A Spectre console on stdout for the human-readable summary (plain text when redirected).</summary>
    public IAnsiConsole SummaryConsole => _summaryConsole ??= Create(Out, OutRedirected);

    IAnsiConsole ProgressConsole => _progressConsole ??= Create(ProgressWriter, ProgressRedirected);

    static IAnsiConsole Create(TextWriter writer, bool redirected) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
    });

    /// <summary>Runs <paramref name="body"/> with the progress reporter of this mode: none with --quiet, log lines when
    /// the progress stream is redirected, else Spectre.Console bars.</summary>
    public T WithProgress<T>(Func<IStageProgress, T> body)
    {
        if (Quiet) return body(NoProgress.Instance);
        if (ProgressRedirected)
        {
            var lines = new LineProgress(ProgressWriter);
            try { return body(lines); }
            finally { lines.Finish(); }
        }
        return SpectreProgress.Run(ProgressConsole, body);
    }

    /// <summary>An informational line (resume notices, skipped work): on the progress stream, not with --quiet.</summary>
    public void Notice(string text)
    {
        if (Quiet) return;
        ProgressWriter.WriteLine(text);
        ProgressWriter.Flush();
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The verb's final summary: with --json one JSON line <c>{"verb": verb, ...fields}</c> on stdout (keys in the
    /// given order), else <paramref name="human"/> writes it to <see cref="SummaryConsole"/>.</summary>
    public void Summary(string verb, IEnumerable<KeyValuePair<string, object?>> fields, Action<IAnsiConsole> human)
    {
        if (Json)
        {
            Out.WriteLine(SummaryJson(verb, fields));
            Out.Flush();
            return;
        }
        human(SummaryConsole);
        Out.Flush();
    }

    /// <summary>The one-line JSON object of a summary.</summary>
    public static string SummaryJson(string verb, IEnumerable<KeyValuePair<string, object?>> fields)
    {
        var o = new JsonObject { ["verb"] = verb };
        foreach (var (k, v) in fields) o[k] = JsonSerializer.SerializeToNode(v, JsonOptions);
        return o.ToJsonString(JsonOptions);
    }
}

/// <summary>
/// Progress as log lines, for redirected output: per stage one line at its start, one line each time it passes
/// another tenth (10% .. 90%), and one line at its end, so a 100-step stage writes at most 11 lines and none twice.
/// Stages still open when the work ends get an end line from <see cref="Finish"/>.
/// </summary>
public sealed class LineProgress(TextWriter writer) : IStageProgress
{
    sealed class Stage(int total)
    {
        public int Total = total, Done, Tenths;
        public bool Ended;
        public readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();
    }

    readonly Dictionary<string, Stage> _stages = new();
    readonly List<string> _order = new();

    void Line(string text)
    {
        writer.WriteLine(text);
        writer.Flush();
    }

    public void Start(string stage, int total)
    {
        total = Math.Max(1, total);
        if (_stages.TryGetValue(stage, out var s))
        {
            s.Total = total;
            return;
        }
        _stages[stage] = new Stage(total);
        _order.Add(stage);
        Line($"{stage}: start ({total})");
    }

    public void Advance(string stage, int by = 1)
    {
        if (!_stages.TryGetValue(stage, out var s)) { Start(stage, 1); s = _stages[stage]; }
        if (s.Ended) return;
        s.Done += by;
        if (s.Done >= s.Total)
        {
            s.Ended = true;
            Line($"{stage}: done {s.Done}/{s.Total} in {s.Clock.Elapsed.TotalSeconds:F1}s");
            return;
        }
        int tenths = (int)(10L * s.Done / s.Total);
        if (tenths <= s.Tenths) return;
        s.Tenths = tenths;
        Line($"{stage}: {10 * tenths}% ({s.Done}/{s.Total})");
    }

    public void Message(string text) => Line(text);

    /// <summary>Writes the end line of every stage that did not reach its total (resumed or stopped work).</summary>
    public void Finish()
    {
        foreach (var name in _order)
        {
            var s = _stages[name];
            if (s.Ended) continue;
            s.Ended = true;
            Line($"{name}: ended at {s.Done}/{s.Total} in {s.Clock.Elapsed.TotalSeconds:F1}s");
        }
    }
}
