using BenchmarkDotNet.Running;

// Run everything:            dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*'
// One class:                 dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*LruForward*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
