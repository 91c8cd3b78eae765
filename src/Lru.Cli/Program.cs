using System.CommandLine;
using Lru.Cli;

var root = new RootCommand("lru: Linear Recurrent Units for .NET — train, evaluate and benchmark deep LRU models.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(TrainCommand.CreateEval());
root.Subcommands.Add(ForwardCommand.Create());
root.Subcommands.Add(InteropCommand.CreateImport());
root.Subcommands.Add(InteropCommand.CreateExport());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CheckpointSoakCommand.Create());
return root.Parse(args).Invoke();
