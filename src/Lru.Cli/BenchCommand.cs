using System.CommandLine;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Lru.Baselines;
using Lru.Layers;
using Lru.Models;
using Lru.Scans;
using Lru.Tensors;

namespace Lru.Cli;

/// <summary><c>lru bench</c>: measures the LRU layer (and GEMM) against naive baselines at one shape.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var mode = new Option<string>("--mode") { Description = "What to measure: forward (LRU layer forward vs the naive RNN), train (forward+backward of the LRU layer and of one block vs the naive RNN with BPTT), step (streaming latency of one layer and of a 2-block model, per step of a batch of --batch streams), scan (the forward scan alone, in GB/s, against this machine's memory bandwidth measured on a buffer of the same size) or gemm (C = A·B, m×k times k×n).", DefaultValueFactory = _ => "forward" };
        mode.AcceptOnlyFromAmong("forward", "train", "step", "scan", "gemm");
        var batch = new Option<int>("--batch", "-b") { Description = "Batch size B.", DefaultValueFactory = _ => 8 };
        var length = new Option<int>("--length", "-l") { Description = "Sequence length L.", DefaultValueFactory = _ => 1024 };
        var hidden = new Option<int>("--hidden") { Description = "Model width H.", DefaultValueFactory = _ => 128 };
        var state = new Option<int>("--state") { Description = "State size N (complex channels).", DefaultValueFactory = _ => 256 };
        var threads = Cli.ThreadsOption("Threads for the LRU kernels.");
        var scan = new Option<string>("--scan") { Description = "Scan algorithm: auto, sequential, chunked or tree.", DefaultValueFactory = _ => "auto" };
        scan.AcceptOnlyFromAmong("auto", "sequential", "chunked", "tree");
        var m = new Option<int>("--m") { Description = "GEMM rows of A and C (mode gemm).", DefaultValueFactory = _ => 1024 };
        var n = new Option<int>("--n") { Description = "GEMM columns of B and C (mode gemm).", DefaultValueFactory = _ => 1024 };
        var k = new Option<int>("--k") { Description = "GEMM inner dimension (mode gemm).", DefaultValueFactory = _ => 1024 };
        var seconds = new Option<double>("--seconds") { Description = "Minimum measuring time per candidate, in seconds.", DefaultValueFactory = _ => 2.0 };
        var skipNaive = new Option<bool>("--no-naive") { Description = "Skip the slow naive baseline." };
        var json = new Option<bool>("--json") { Description = "End with one line holding a JSON object of the results." };

        var command = new Command("bench", "Measure the LRU layer (forward, or forward+backward with one block) in tokens/s against a naive sequential tanh RNN of the same B, L, H, N, or measure GEMM.")
        {
            mode, batch, length, hidden, state, threads, scan, m, n, k, seconds, skipNaive, json,
        };
        command.SetAction(result => Cli.Run(() =>
        {
            int t = Cli.UseThreads(result, threads);
            string what = result.GetValue(mode)!;
            if (what == "step")
                return RunStep(result.GetValue(batch), result.GetValue(hidden), result.GetValue(state), result.GetValue(seconds), result.GetValue(json));
            if (what == "scan")
                return RunScan(result.GetValue(batch), result.GetValue(length), result.GetValue(state), t, result.GetValue(seconds), result.GetValue(json));
            return what == "gemm"
                ? RunGemm(result.GetValue(m), result.GetValue(n), result.GetValue(k), t, result.GetValue(seconds), result.GetValue(json))
                : RunLayer(what == "train", result.GetValue(batch), result.GetValue(length), result.GetValue(hidden), result.GetValue(state), t,
                    ParseScan(result.GetValue(scan)!), result.GetValue(seconds), result.GetValue(skipNaive), result.GetValue(json));
        }));
        return command;
    }

    private static ScanMode ParseScan(string scan) => scan switch
    {
        "sequential" => ScanMode.Sequential,
        "chunked" => ScanMode.Chunked,
        "tree" => ScanMode.Tree,
        _ => ScanMode.Auto,
    };

    private static int RunLayer(bool train, int batch, int length, int hidden, int stateSize, int threads, ScanMode scan, double seconds, bool skipNaive, bool json)
    {
        if (batch < 1 || length < 1)
            throw new ArgumentOutOfRangeException(batch < 1 ? "--batch" : "--length", "--batch and --length must be at least 1.");
        string mode = train ? "train" : "forward";
        var layer = new LruLayer<float>(new LruConfig(hidden, stateSize), seed: 0) { IsTraining = train, Scan = scan };
        var random = new SeededRandom(1);
        float[] input = new float[batch * length * hidden], output = new float[input.Length], gradOutput = new float[input.Length], gradInput = new float[input.Length];
        for (int i = 0; i < input.Length; i++) input[i] = (float)random.NextNormal();
        for (int i = 0; i < gradOutput.Length; i++) gradOutput[i] = (float)random.NextNormal();
        ScanMode resolved = scan == ScanMode.Auto ? DiagonalRecurrence.ChooseMode(batch, length, stateSize) : scan;
        double tokens = (double)batch * length;
        string what = train ? "forward+backward" : "forward";

        Console.WriteLine($"LRU layer {what}: B={batch} L={length} H={hidden} N={stateSize}, threads={threads}, scan={scan.ToString().ToLowerInvariant()} ({resolved.ToString().ToLowerInvariant()}), {Describe()}");
        double lruSeconds = Measure.BestSeconds(() =>
        {
            layer.Forward(input, output, batch, length);
            if (train) layer.Backward(gradOutput, gradInput, batch, length);
        }, seconds);
        double lruRate = tokens / lruSeconds;
        double flops = (train ? 24.0 : 8.0) * tokens * hidden * stateSize;
        Console.WriteLine($"  lru        {lruSeconds * 1e3,10:F3} ms/pass  {lruRate,14:N0} tokens/s  {flops / lruSeconds / 1e9,7:F1} GFLOP/s ({(train ? 24 : 8)}·B·L·H·N)");

        double? blockRate = null;
        if (train)
        {
            var block = new LruBlock<float>(new LruBlockConfig(new LruConfig(hidden, stateSize)), seed: 0);
            ((LruLayer<float>)block.Lru).Scan = scan;
            double blockSeconds = Measure.BestSeconds(() =>
            {
                block.Forward(input, output, batch, length);
                block.Backward(gradOutput, gradInput, batch, length);
            }, seconds);
            blockRate = tokens / blockSeconds;
            Console.WriteLine($"  block      {blockSeconds * 1e3,10:F3} ms/pass  {blockRate,14:N0} tokens/s  (pre-LayerNorm, LRU, GELU, GLU, residual)");
        }

        double? naiveRate = null;
        if (!skipNaive)
        {
            var rnn = new NaiveRnn<float>(hidden, stateSize, seed: 0);
            double naiveSeconds = Measure.BestSeconds(() =>
            {
                rnn.Forward(input, output, batch, length);
                if (train) rnn.Backward(gradOutput, gradInput);
            }, 0, minRuns: 1);
            naiveRate = tokens / naiveSeconds;
            Console.WriteLine($"  naive RNN  {naiveSeconds * 1e3,10:F3} ms/pass  {naiveRate,14:N0} tokens/s  (dense tanh RNN, scalar loops{(train ? ", BPTT" : "")}, 1 thread)");
            Console.WriteLine($"  speed-up   {lruRate / naiveRate:F1}×");
        }

        if (json)
        {
            var fields = new Dictionary<string, object?>
            {
                ["mode"] = mode, ["batch"] = batch, ["length"] = length, ["hidden"] = hidden, ["state"] = stateSize,
                ["threads"] = threads, ["scan"] = scan.ToString().ToLowerInvariant(), ["scan_resolved"] = resolved.ToString().ToLowerInvariant(),
                ["lru_tokens_per_s"] = Math.Round(lruRate, 1), ["naive_rnn_tokens_per_s"] = naiveRate is null ? null : Math.Round(naiveRate.Value, 1),
                ["lru_seconds_per_pass"] = lruSeconds, ["lru_gflops"] = Math.Round(flops / lruSeconds / 1e9, 2),
            };
            if (train) fields["block_tokens_per_s"] = Math.Round(blockRate!.Value, 1);
            Console.WriteLine(JsonSerializer.Serialize(fields));
        }
        return 0;
    }

    private static int RunStep(int batch, int hidden, int stateSize, double seconds, bool json)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException("--batch", batch, "--batch must be at least 1.");
        var layer = new LruLayer<float>(new LruConfig(hidden, stateSize), seed: 0) { IsTraining = false };
        var model = new SequenceModel<float>(new SequenceModelConfig(hidden, 0, 10, 2, new LruBlockConfig(new LruConfig(hidden, stateSize)), PoolingMode.Last), 0) { IsTraining = false };
        var random = new SeededRandom(1);
        float[] u = new float[batch * hidden], y = new float[batch * hidden], logits = new float[batch * 10];
        for (int i = 0; i < u.Length; i++) u[i] = (float)random.NextNormal();
        var layerState = layer.CreateState(batch);
        var modelState = model.CreateState(batch);
        const int inner = 1000;
        Console.WriteLine($"Streaming step: batch {batch} stream(s), H={hidden} N={stateSize}, one thread, {Describe()}");
        double layerSeconds = Measure.BestSeconds(() => { for (int i = 0; i < inner; i++) layer.Step(u, y, layerState); }, seconds) / inner;
        double modelSeconds = Measure.BestSeconds(() => { for (int i = 0; i < inner; i++) model.Step(u, logits, modelState); }, seconds) / inner;
        // Allocation over 1000 more steps of each, outside the timing harness (whose delegates allocate).
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < inner; i++) layer.Step(u, y, layerState);
        for (int i = 0; i < inner; i++) model.Step(u, logits, modelState);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"  LRU layer Step        {layerSeconds * 1e6,9:F2} µs");
        Console.WriteLine($"  2-block model Step    {modelSeconds * 1e6,9:F2} µs  (encoder, 2 × (LayerNorm, LRU, GELU, GLU), decoder)");
        Console.WriteLine($"  allocated in {inner} layer steps + {inner} model steps: {allocated} bytes");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "step", ["batch"] = batch, ["hidden"] = hidden, ["state"] = stateSize, ["threads"] = 1,
                ["step_us"] = Math.Round(layerSeconds * 1e6, 3), ["model_step_us"] = Math.Round(modelSeconds * 1e6, 3), ["allocated_bytes"] = allocated,
            }));
        return 0;
    }

    private static int RunGemm(int m, int n, int k, int threads, double seconds, bool json)
    {
        if (m < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException("--m", "--m, --n and --k must be at least 1.");
        var random = new SeededRandom(2);
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)random.NextNormal();
        for (int i = 0; i < b.Length; i++) b[i] = (float)random.NextNormal();
        Console.WriteLine($"SGEMM C = A·B: m={m} n={n} k={k}, threads={threads}, {Describe()}");
        double best = Measure.BestSeconds(() => Gemm.Multiply<float>(a, b, c, m, n, k, threads: threads), seconds);
        double gflops = 2.0 * m * n * k / best / 1e9;
        Console.WriteLine($"  gemm  {best * 1e3,10:F3} ms  {gflops,8:F1} GFLOP/s");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "gemm", ["m"] = m, ["n"] = n, ["k"] = k, ["threads"] = threads, ["seconds"] = best, ["gflops"] = Math.Round(gflops, 2),
            }));
        return 0;
    }

    /// <summary>
    /// The sequential forward scan in place over (B, L, 2N) floats, in GB/s counting one read and one
    /// write of the buffer, next to two memory-bandwidth probes over the same buffer with the same
    /// threads: an in-place scale (read + write, the scan's access pattern) and a copy to a second
    /// buffer (STREAM's "copy" convention: bytes read + bytes written).
    /// </summary>
    private static int RunScan(int batch, int length, int stateSize, int threads, double seconds, bool json)
    {
        if (batch < 1 || length < 1 || stateSize < 1)
            throw new ArgumentOutOfRangeException("--batch", "--batch, --length and --state must be at least 1.");
        var random = new SeededRandom(3);
        float[] lamRe = new float[stateSize], lamIm = new float[stateSize];
        for (int j = 0; j < stateSize; j++)
        {
            double r = 0.9 + 0.099 * random.NextOpenUnit(), phase = 2 * Math.PI * random.NextOpenUnit();
            lamRe[j] = (float)(r * Math.Cos(phase));
            lamIm[j] = (float)(r * Math.Sin(phase));
        }
        float[] states = new float[checked(batch * length * 2 * stateSize)], copy = new float[states.Length];
        for (int i = 0; i < states.Length; i++) states[i] = (float)random.NextNormal();
        double bytes = 2.0 * states.Length * sizeof(float);
        Console.WriteLine($"Forward scan vs memory bandwidth: B={batch} L={length} N={stateSize}, buffer {states.Length * 4.0 / (1 << 20):F1} MiB, threads={threads}, {Describe()}");

        // The scan is linear, so repeating it in place only rescales the values; renormalise between runs.
        double scanSeconds = Measure.BestSeconds(() => DiagonalRecurrence.Scan<float>(lamRe, lamIm, states, batch, length, mode: ScanMode.Sequential, threads: threads), seconds);
        for (int i = 0; i < states.Length; i++) states[i] = (float)random.NextNormal();
        double scaleSeconds = Measure.BestSeconds(() => InChunks(states.Length, threads, (start, count) =>
            TensorPrimitives.Multiply(states.AsSpan(start, count), 1.0f, states.AsSpan(start, count))), seconds);
        double copySeconds = Measure.BestSeconds(() => InChunks(states.Length, threads, (start, count) =>
            states.AsSpan(start, count).CopyTo(copy.AsSpan(start, count))), seconds);
        double scanRate = bytes / scanSeconds / 1e9, scaleRate = bytes / scaleSeconds / 1e9, copyRate = bytes / copySeconds / 1e9;
        double memory = Math.Max(scaleRate, copyRate);
        Console.WriteLine($"  scan (sequential)   {scanSeconds * 1e3,9:F3} ms  {scanRate,7:F1} GB/s  {(double)batch * length / scanSeconds,14:N0} tokens/s");
        Console.WriteLine($"  memory, in place    {scaleSeconds * 1e3,9:F3} ms  {scaleRate,7:F1} GB/s  (x ← 1·x)");
        Console.WriteLine($"  memory, copy        {copySeconds * 1e3,9:F3} ms  {copyRate,7:F1} GB/s  (y ← x)");
        Console.WriteLine($"  scan / memory bandwidth: {scanRate / memory:P0}");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "scan", ["batch"] = batch, ["length"] = length, ["state"] = stateSize, ["threads"] = threads,
                ["buffer_bytes"] = states.Length * 4L, ["scan_gbytes_per_s"] = Math.Round(scanRate, 2),
                ["memory_inplace_gbytes_per_s"] = Math.Round(scaleRate, 2), ["memory_copy_gbytes_per_s"] = Math.Round(copyRate, 2),
                ["scan_fraction_of_memory"] = Math.Round(scanRate / memory, 3),
            }));
        return 0;
    }

    /// <summary>Runs <paramref name="body"/> over <paramref name="threads"/> contiguous chunks of <paramref name="length"/> elements in parallel.</summary>
    private static void InChunks(int length, int threads, Action<int, int> body) =>
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long start = (long)length * t / threads, end = (long)length * (t + 1) / threads;
            body((int)start, (int)(end - start));
        });

    private static string Describe() =>
        $"SIMD: {(Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128/scalar")}, {Environment.ProcessorCount} cores";
}
