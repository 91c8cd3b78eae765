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
        var mode = new Option<string>("--mode") { Description = "What to measure: forward (LRU layer forward vs the naive RNN), train (forward+backward of the LRU layer and of one block vs the naive RNN with BPTT), model (a whole training step and an evaluation forward of a deep model: the fashion-mnist task's, causal with dropout 0.1; defaults B=50 L=784 H=64 N=64 K=4), step (streaming latency of one layer and of a 2-block model, per step of a batch of --batch streams), scan (the forward scan alone, in GB/s, against this machine's memory bandwidth measured on a buffer of the same size), gemm (C = A·B, m×k times k×n) or peak (this machine's FP32 FMA throughput, memory and L2 bandwidth).", DefaultValueFactory = _ => "forward" };
        mode.AcceptOnlyFromAmong("forward", "train", "model", "step", "scan", "gemm", "peak");
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
        var json = new Option<bool>("--json") { Description = "End with one line holding a JSON object of the results (with gflops and peak_fraction: the share of this machine's FMA peak, measured in the same run)." };
        var layers = new Option<int>("--layers") { Description = "Blocks K (mode model).", DefaultValueFactory = _ => 4 };
        var transposeA = new Option<bool>("--transpose-a") { Description = "Mode gemm: C = Aᵀ·B with A stored k×m (the weight gradients' shape)." };

        var command = new Command("bench", "Measure the LRU layer (forward, or forward+backward with one block) in tokens/s against a naive sequential tanh RNN of the same B, L, H, N, or measure GEMM.")
        {
            mode, batch, length, hidden, state, layers, threads, scan, m, n, k, transposeA, seconds, skipNaive, json,
        };
        command.SetAction(result => Cli.Run(() =>
        {
            int t = Cli.UseThreads(result, threads);
            string what = result.GetValue(mode)!;
            if (what == "peak") return RunPeak(t, result.GetValue(seconds), result.GetValue(json));
            if (what == "model")
            {
                // The model's own defaults (the fashion-mnist task's) where the shared options were not given.
                int Or(Option<int> option, int fallback) => result.GetResult(option) is { Implicit: false } ? result.GetValue(option) : fallback;
                return RunModel(Or(batch, 50), Or(length, 784), Or(hidden, 64), Or(state, 64), result.GetValue(layers), t, result.GetValue(seconds), result.GetValue(json));
            }
            if (what == "step")
                return RunStep(result.GetValue(batch), result.GetValue(hidden), result.GetValue(state), result.GetValue(seconds), result.GetValue(json));
            if (what == "scan")
                return RunScan(result.GetValue(batch), result.GetValue(length), result.GetValue(state), t, result.GetValue(seconds), result.GetValue(json));
            return what == "gemm"
                ? RunGemm(result.GetValue(m), result.GetValue(n), result.GetValue(k), result.GetValue(transposeA), t, result.GetValue(seconds), result.GetValue(json))
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
        double peak = Roofline.FmaGflops(threads, PeakSeconds);
        double gflops = flops / lruSeconds / 1e9;
        Console.WriteLine($"  lru        {lruSeconds * 1e3,10:F3} ms/pass  {lruRate,14:N0} tokens/s  {gflops,7:F1} GFLOP/s ({(train ? 24 : 8)}·B·L·H·N), {gflops / peak:P0} of the FMA peak {peak:F0} GFLOP/s");

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
                ["lru_seconds_per_pass"] = lruSeconds, ["lru_gflops"] = Math.Round(gflops, 2),
                ["gflops"] = Math.Round(gflops, 2), ["peak_gflops"] = Math.Round(peak, 1), ["peak_fraction"] = Math.Round(gflops / peak, 4), ["bound"] = "compute",
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
        // The bound of a step of one stream: reading the layer's weights (B, C as re and im, λ, γ, D) once from L2, at the
        // single-core L2 read bandwidth measured on a buffer of the same size; and the FMA peak of one core.
        long weightBytes = 4L * (4L * stateSize * hidden + 3L * stateSize + hidden);
        double l2 = Roofline.CacheReadGBps(512 << 10, PeakSeconds); // a 512 KiB buffer: L2 on every core this runs on, whatever the weights' size
        double boundSeconds = weightBytes / (l2 * 1e9);
        double peak = Roofline.FmaGflops(1, PeakSeconds);
        double gflops = 8.0 * batch * hidden * stateSize / layerSeconds / 1e9;
        Console.WriteLine($"  LRU layer Step        {layerSeconds * 1e6,9:F2} µs  ({weightBytes / 1024.0:F0} KiB of weights: {boundSeconds * 1e6:F2} µs at the L2 read bandwidth {l2:F0} GB/s; {layerSeconds / boundSeconds:F2}× that bound)");
        Console.WriteLine($"  2-block model Step    {modelSeconds * 1e6,9:F2} µs  (encoder, 2 × (LayerNorm, LRU, GELU, GLU), decoder)");
        Console.WriteLine($"  allocated in {inner} layer steps + {inner} model steps: {allocated} bytes");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "step", ["batch"] = batch, ["hidden"] = hidden, ["state"] = stateSize, ["threads"] = 1,
                ["step_us"] = Math.Round(layerSeconds * 1e6, 3), ["model_step_us"] = Math.Round(modelSeconds * 1e6, 3), ["allocated_bytes"] = allocated,
                ["gflops"] = Math.Round(gflops, 2), ["peak_gflops"] = Math.Round(peak, 1), ["peak_fraction"] = Math.Round(gflops / peak, 4),
                ["bound"] = "l2", ["weight_bytes"] = weightBytes, ["l2_read_gbytes_per_s"] = Math.Round(l2, 1),
                ["l2_bound_us"] = Math.Round(boundSeconds * 1e6, 3), ["step_over_bound"] = Math.Round(layerSeconds / boundSeconds, 3),
                ["bound_fraction"] = Math.Round(boundSeconds / layerSeconds, 4),
            }));
        return 0;
    }

    private static int RunGemm(int m, int n, int k, bool transposeA, int threads, double seconds, bool json)
    {
        if (m < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException("--m", "--m, --n and --k must be at least 1.");
        var random = new SeededRandom(2);
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)random.NextNormal();
        for (int i = 0; i < b.Length; i++) b[i] = (float)random.NextNormal();
        Console.WriteLine($"SGEMM C = {(transposeA ? "Aᵀ" : "A")}·B: m={m} n={n} k={k}, threads={threads}, {Describe()}");
        double best = Measure.BestSeconds(() => Gemm.Multiply<float>(a, b, c, m, n, k, transposeA: transposeA, threads: threads), seconds);
        double gflops = 2.0 * m * n * k / best / 1e9;
        double peak = Roofline.FmaGflops(threads, PeakSeconds);
        Console.WriteLine($"  gemm  {best * 1e3,10:F3} ms  {gflops,8:F1} GFLOP/s, {gflops / peak:P0} of the FMA peak {peak:F0} GFLOP/s");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "gemm", ["m"] = m, ["n"] = n, ["k"] = k, ["transpose_a"] = transposeA, ["threads"] = threads, ["seconds"] = best, ["gflops"] = Math.Round(gflops, 2),
                ["peak_gflops"] = Math.Round(peak, 1), ["peak_fraction"] = Math.Round(gflops / peak, 4), ["bound"] = "compute",
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
        double gflops = 8.0 * batch * length * stateSize / scanSeconds / 1e9, peak = Roofline.FmaGflops(threads, PeakSeconds);
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
                ["gflops"] = Math.Round(gflops, 2), ["peak_gflops"] = Math.Round(peak, 1), ["peak_fraction"] = Math.Round(gflops / peak, 4), ["bound"] = "memory",
                ["bound_fraction"] = Math.Round(scanRate / memory, 4),
            }));
        return 0;
    }

    /// <summary>Seconds each FMA-peak probe beside a measurement runs (the best of its runs counts).</summary>
    private const double PeakSeconds = 0.3;

    /// <summary>The roofline of the machine of the run: FP32 FMA peak on 1 and T threads, memory and L2 bandwidth.</summary>
    private static int RunPeak(int threads, double seconds, bool json)
    {
        Console.WriteLine($"Machine bounds: {Describe()}, threads={threads}");
        double one = Roofline.FmaGflops(1, seconds), all = Roofline.FmaGflops(threads, seconds);
        Console.WriteLine($"  FP32 FMA, {Roofline.VectorBits}-bit vectors, 12 chains: {one,8:F1} GFLOP/s on 1 thread, {all,8:F1} on {threads}");
        var (copy, triad) = Roofline.MemoryGBps(threads, 1 << 25, seconds);
        Console.WriteLine($"  memory (3 × 128 MiB buffers):  copy {copy,6:F1} GB/s, triad {triad,6:F1} GB/s ({threads} threads)");
        double l2 = Roofline.CacheReadGBps(512 << 10, seconds);
        Console.WriteLine($"  L2 read (512 KiB, 1 thread):  {l2,6:F1} GB/s");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "peak", ["threads"] = threads, ["vector_bits"] = Roofline.VectorBits,
                ["fma_gflops_1_thread"] = Math.Round(one, 1), ["fma_gflops"] = Math.Round(all, 1),
                ["memory_copy_gbytes_per_s"] = Math.Round(copy, 1), ["memory_triad_gbytes_per_s"] = Math.Round(triad, 1),
                ["l2_read_gbytes_per_s"] = Math.Round(l2, 1), ["gflops"] = Math.Round(all, 1), ["peak_gflops"] = Math.Round(all, 1), ["peak_fraction"] = 1.0, ["bound"] = "compute",
            }));
        return 0;
    }

    /// <summary>
    /// A whole training step (encoder, K blocks with BatchNorm, GELU, GLU and dropout, mean pooling, decoder, cross-entropy,
    /// backward, clipping, the finite check and AdamW) and an evaluation-mode forward of the fashion-mnist task's model
    /// in its causal form with dropout 0.1 (<c>lru train --task fashion-mnist --direction causal --dropout 0.1</c>) at the
    /// given sizes, on random data.
    /// </summary>
    private static int RunModel(int batch, int length, int hidden, int stateSize, int layers, int threads, double seconds, bool json)
    {
        if (batch < 1 || length < 1 || hidden < 1 || stateSize < 1 || layers < 1)
            throw new ArgumentOutOfRangeException("--batch", "--batch, --length, --hidden, --state and --layers must be at least 1.");
        var task = Tasks.BuiltInTasks.Get("fashion-mnist");
        var defaults = task.Defaults;
        // Causal blocks with dropout 0.1, as measured in docs/performance.md and by torch_lru.py --mode model (the task's
        // defaults became bidirectional without dropout afterwards; docs/results.md).
        var settings = defaults with
        {
            Layers = layers, BatchSize = batch,
            Block = defaults.Block with { Lru = defaults.Block.Lru with { Hidden = hidden, State = stateSize }, Bidirectional = false, DropoutRate = 0.1 },
        };
        var config = task.ModelConfig(settings);
        var model = new SequenceModel<float>(config, settings.Seed);
        var random = new SeededRandom(4);
        float[] x = new float[batch * length * config.InputFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextOpenUnit();
        int[] labels = Enumerable.Range(0, batch).Select(i => i % config.Outputs).ToArray();
        var data = new Data.SequenceDataset<float>(batch, length, config.InputFeatures, x, null, labels, null);
        var optimizer = new Training.AdamW<float>(model.NamedParameters(), settings.Optimizer(1_000_000));
        var trainer = new Training.Trainer<float>(model, optimizer, new Training.TrainerOptions(1, batch, settings.Seed, settings.ClipNorm));
        int[] all = Enumerable.Range(0, batch).ToArray();
        double tokens = (double)batch * length;
        Console.WriteLine($"Model: {layers} blocks (BatchNorm, LRU, GELU, GLU, dropout {settings.Block.DropoutRate}), B={batch} L={length} H={hidden} N={stateSize}, threads={threads}, {Describe()}");
        double trainSeconds = Measure.BestSeconds(() => trainer.TrainStep(data, all), seconds);
        model.IsTraining = false;
        float[] logits = new float[model.OutputSize(batch, length)];
        double evalSeconds = Measure.BestSeconds(() => model.Forward(x, logits, batch, length), seconds);
        double peak = Roofline.FmaGflops(threads, PeakSeconds);
        // Flops per token: the LRU 8·H·N forward (B·u and C·x as real products of complex matrices) and 16·H·N backward,
        // the GLU's two H×H products 4·H² forward and 8·H² backward, the encoder 2·F·H (×3 with backward); elementwise work
        // and the decoder after pooling are not counted.
        double f = config.InputFeatures, trainFlops = tokens * (6 * f * hidden + layers * (24.0 * hidden * stateSize + 12.0 * hidden * hidden));
        double evalFlops = tokens * (2 * f * hidden + layers * (8.0 * hidden * stateSize + 4.0 * hidden * hidden));
        double trainGflops = trainFlops / trainSeconds / 1e9, evalGflops = evalFlops / evalSeconds / 1e9;
        Console.WriteLine($"  training step   {trainSeconds * 1e3,9:F2} ms  {tokens / trainSeconds,12:N0} tokens/s  {trainGflops,7:F1} GFLOP/s, {trainGflops / peak:P0} of the FMA peak {peak:F0} GFLOP/s");
        Console.WriteLine($"  eval forward    {evalSeconds * 1e3,9:F2} ms  {tokens / evalSeconds,12:N0} tokens/s  {evalGflops,7:F1} GFLOP/s, {evalGflops / peak:P0}");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["mode"] = "model", ["batch"] = batch, ["length"] = length, ["hidden"] = hidden, ["state"] = stateSize, ["layers"] = layers, ["threads"] = threads,
                ["model_tokens_per_s"] = Math.Round(tokens / trainSeconds, 1), ["model_step_ms"] = Math.Round(trainSeconds * 1e3, 3),
                ["eval_tokens_per_s"] = Math.Round(tokens / evalSeconds, 1),
                ["gflops"] = Math.Round(trainGflops, 2), ["eval_gflops"] = Math.Round(evalGflops, 2), ["peak_gflops"] = Math.Round(peak, 1),
                ["peak_fraction"] = Math.Round(trainGflops / peak, 4), ["eval_peak_fraction"] = Math.Round(evalGflops / peak, 4), ["bound"] = "compute",
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
