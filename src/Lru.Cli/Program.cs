using System.CommandLine;
using Lru.Cli;

var root = new RootCommand("lru: Linear Recurrent Units for .NET — benchmark, train and run LRU models.");
root.Subcommands.Add(BenchCommand.Create());
return root.Parse(args).Invoke();
