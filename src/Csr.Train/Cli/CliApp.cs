using CommandLine;

namespace Csr.Train.Cli;

/// <summary>Verb dispatch. Each verb lives in its own file as an options class + handler.</summary>
public static class CliApp
{
    public static int Run(string[] args) => Run(args, null, null);

    /// <summary>Runs the command line with stdout and stderr going to the given writers (both taken as redirected:
    /// progress as log lines), or to the console when null.</summary>
    public static int Run(string[] args, TextWriter? stdout, TextWriter? stderr)
    {
        var err = stderr ?? Console.Error;
        var parser = new Parser(s => { s.HelpWriter = stdout ?? Console.Out; s.CaseInsensitiveEnumValues = true; });
        try
        {
            return parser.ParseArguments(args, VerbRegistry.Types)
                .MapResult(o =>
                {
                    if (stdout != null) Redirect(o, stdout, err);
                    return VerbRegistry.Execute(o);
                }, ParseErrorExitCode);
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            err.WriteLine($"error: {ex.Message}");
            if (Environment.GetEnvironmentVariable("CSR_DEBUG") == "1") err.WriteLine(ex);
            return 2;
        }
    }

    static void Redirect(object verb, TextWriter stdout, TextWriter stderr)
    {
        if (verb is ComputeVerbBase c) c.Cli = new CliOutput(stdout, stderr, stdoutRedirected: true, stderrRedirected: true, c.Quiet, c.Json);
        if (verb is GenerateVerb g) g.Output = stdout;
        if (verb is MakeTinyVerb m) m.Output = stdout;
    }

    /// <summary>0 for --help / help VERB / --version (the parser reports them as errors after printing the text), 1 for
    /// a real parse error.</summary>
    public static int ParseErrorExitCode(IEnumerable<Error> errors)
    {
        var list = errors.ToList();
        return list.Count > 0 && list.All(e => e is HelpRequestedError or HelpVerbRequestedError or VersionRequestedError) ? 0 : 1;
    }

    /// <summary>Errors caused by input (files, keys, shapes, options): reported in one line, no stack trace.</summary>
    public static bool IsUserError(Exception ex) =>
        ex is CsrUserException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or ArgumentException or FormatException or System.Text.Json.JsonException or InsufficientMemoryException;
}

/// <summary>An error caused by the user's input (file, key, shape, option): printed without a stack trace.</summary>
public class CsrUserException(string message, Exception? inner = null) : Exception(message, inner);
