using BenchmarkDotNet.Running;

// Run everything:            dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*'
// One class:                 dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*LruForward*'
// Hand-written code audit:   dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*HandWritten*'
//                            dotnet run -c Release --project benchmarks/Lru.Benchmarks -- accuracy
if (args is ["accuracy"])
{
    Lru.Benchmarks.HandWrittenAccuracy.Run();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
