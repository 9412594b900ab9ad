namespace Csr.Train;

public static class Program
{
    public static int Main(string[] args)
    {
        // Before libtorch loads: its OpenMP workers must sleep between ops, or they steal the cores that the
        // bf16 decode kernel and the next op need (measured 5-10x slower decode when they spin).
        Csr.Models.Fast.OpenMpSettings.PreferPassiveWait();
        return Cli.CliApp.Run(args);
    }
}
