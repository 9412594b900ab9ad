namespace Csr.Train;

public static class Program
{
    public static int Main(string[] args) => Cli.CliApp.Run(args);
}
