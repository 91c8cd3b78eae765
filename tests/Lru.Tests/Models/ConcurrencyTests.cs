using Lru.Layers;
using Lru.Models;
using Lru.Tests.Support;

namespace Lru.Tests.Models;

/// <summary>
/// One model serving many threads: evaluation-mode Forward, ForwardTokens and Step (each stream with its own state)
/// from eight threads at once give bit-identical results to the same calls made one after another, and a
/// training-mode call that overlaps another call on the model is refused instead of corrupting its caches.
/// </summary>
public class ConcurrencyTests
{
    private const int Threads = 8, CallsPerThread = 12, Features = 3, Outputs = 4, Vocabulary = 9;

    public static TheoryData<string> Configurations => ["layernorm-glu", "batchnorm-mlp-post-dropout", "bidirectional-project", "bidirectional-sum-elementwise-dropout"];

    private static SequenceModel<float> Model(string name, PoolingMode pooling, bool tokens = false)
    {
        var block = name switch
        {
            "layernorm-glu" => new LruBlockConfig(new LruConfig(16, 12, RMin: 0.5, RMax: 0.95)),
            "batchnorm-mlp-post-dropout" => new LruBlockConfig(new LruConfig(16, 12, RMin: 0.5, RMax: 0.95), Norm: NormKind.BatchNorm, Placement: NormPlacement.Post,
                Mixer: MixerKind.Mlp, MlpExpansion: 2, DropoutRate: 0.2),
            "bidirectional-project" => new LruBlockConfig(new LruConfig(16, 12, RMin: 0.5, RMax: 0.95), Bidirectional: true, Combine: BidirectionalCombine.ConcatProject, Norm: NormKind.BatchNorm),
            "bidirectional-sum-elementwise-dropout" => new LruBlockConfig(new LruConfig(16, 12), Bidirectional: true, DropoutRate: 0.1, DropoutMode: DropoutMode.PerElement),
            _ => throw new ArgumentException(name),
        };
        var config = new SequenceModelConfig(tokens ? 0 : Features, tokens ? Vocabulary : 0, Outputs, Layers: 2, block, pooling);
        var model = new SequenceModel<float>(config, seed: 3);
        // One training pass moves the BatchNorm running statistics away from (0, 1).
        float[] y = new float[model.OutputSize(4, 6)];
        if (tokens) model.ForwardTokens(Enumerable.Range(0, 24).Select(i => i % Vocabulary).ToArray(), y, 4, 6);
        else model.Forward(Compare.Cast<float>(Compare.Random(4 * 6 * Features, 99)), y, 4, 6);
        model.IsTraining = false;
        return model;
    }

    /// <summary>Call c of thread t: its own shape (batch 1–4, length 1–13), input and optional valid lengths.</summary>
    private sealed record Call(int Batch, int Length, float[] Input, int[] Tokens, int[] Lengths);

    private static Call MakeCall(int thread, int call)
    {
        int seed = 1000 * thread + call;
        var random = new Lru.Tensors.SeededRandom(seed);
        int batch = 1 + random.NextInt(4), length = 1 + random.NextInt(13);
        int[] lengths = call % 3 == 0 ? Enumerable.Range(0, batch).Select(_ => 1 + random.NextInt(length)).ToArray() : [];
        int[] tokens = Enumerable.Range(0, batch * length).Select(_ => random.NextInt(Vocabulary)).ToArray();
        return new Call(batch, length, Compare.Cast<float>(Compare.Random(batch * length * Features, seed)), tokens, lengths);
    }

    private static float[] Run(SequenceModel<float> model, Call call, bool tokens)
    {
        float[] y = new float[model.OutputSize(call.Batch, call.Length)];
        if (tokens) model.ForwardTokens(call.Tokens, y, call.Batch, call.Length, call.Lengths);
        else model.Forward(call.Input, y, call.Batch, call.Length, call.Lengths);
        return y;
    }

    /// <summary>Runs <paramref name="work"/>(thread) on <see cref="Threads"/> threads released together; rethrows the first failure.</summary>
    private static void OnThreads(Action<int> work)
    {
        using var start = new Barrier(Threads);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                work(t);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        if (failures.TryDequeue(out var first)) throw new AggregateException(first);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Forward_FromEightThreads_IsBitIdenticalToSerialCalls(string configuration)
    {
        foreach (var pooling in new[] { PoolingMode.Mean, PoolingMode.None })
        foreach (bool tokens in new[] { false, true })
        {
            var model = Model(configuration, pooling, tokens);
            var calls = Enumerable.Range(0, Threads).Select(t => Enumerable.Range(0, CallsPerThread).Select(c => MakeCall(t, c)).ToArray()).ToArray();
            float[][][] serial = calls.Select(thread => thread.Select(call => Run(model, call, tokens)).ToArray()).ToArray();

            var concurrent = new float[Threads][][];
            OnThreads(t => concurrent[t] = calls[t].Select(call => Run(model, call, tokens)).ToArray());

            for (int t = 0; t < Threads; t++)
                for (int c = 0; c < CallsPerThread; c++)
                    Assert.True(serial[t][c].AsSpan().SequenceEqual(concurrent[t][c]),
                        $"{configuration}, {pooling}, tokens {tokens}: thread {t} call {c} (batch {calls[t][c].Batch}, length {calls[t][c].Length}) differs from the serial call");
            Assert.Equal(0, model.CallsInFlight);
        }
    }

    [Theory]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Last)]
    [InlineData(PoolingMode.None)]
    public void Step_FromEightThreads_EachWithItsOwnState_IsBitIdenticalToSerialStepping(PoolingMode pooling)
    {
        const int batch = 2, steps = 30;
        foreach (string configuration in new[] { "layernorm-glu", "batchnorm-mlp-post-dropout" })
        {
            var model = Model(configuration, pooling);
            float[][][] inputs = Enumerable.Range(0, Threads)
                .Select(t => Enumerable.Range(0, steps).Select(s => Compare.Cast<float>(Compare.Random(batch * Features, 7000 + 100 * t + s))).ToArray()).ToArray();
            float[][] Stream(int t)
            {
                var state = model.CreateState(batch);
                return inputs[t].Select(x =>
                {
                    float[] y = new float[batch * Outputs];
                    model.Step(x, y, state);
                    return y;
                }).ToArray();
            }
            float[][][] serial = Enumerable.Range(0, Threads).Select(Stream).ToArray();

            var concurrent = new float[Threads][][];
            OnThreads(t => concurrent[t] = Stream(t));

            for (int t = 0; t < Threads; t++)
                for (int s = 0; s < steps; s++)
                    Assert.True(serial[t][s].AsSpan().SequenceEqual(concurrent[t][s]), $"{configuration}, {pooling}: stream {t} step {s} differs from serial stepping");
        }
    }

    [Fact]
    public void ForwardAndStep_MixedOnEightThreads_AreBitIdenticalToSerialCalls()
    {
        var model = Model("layernorm-glu", PoolingMode.Last);
        var calls = Enumerable.Range(0, CallsPerThread).Select(c => MakeCall(42, c)).ToArray();
        float[][] serialForward = calls.Select(c => Run(model, c, tokens: false)).ToArray();
        float[] x = Compare.Cast<float>(Compare.Random(Features, 5));
        float[][] StepStream()
        {
            var state = model.CreateState(1);
            return Enumerable.Range(0, 40).Select(_ => { float[] y = new float[Outputs]; model.Step(x, y, state); return y; }).ToArray();
        }
        float[][] serialSteps = StepStream();

        var results = new object[Threads];
        OnThreads(t => results[t] = t % 2 == 0 ? calls.Select(c => Run(model, c, tokens: false)).ToArray() : StepStream());

        for (int t = 0; t < Threads; t++)
        {
            float[][] expected = t % 2 == 0 ? serialForward : serialSteps, actual = (float[][])results[t];
            for (int i = 0; i < expected.Length; i++) Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"thread {t} result {i} differs");
        }
    }

    [Fact]
    public void EvaluationForward_InSteadyState_AllocatesNothing()
    {
        // One sequence, so that every kernel stays on the calling thread (Parallel.For allocates a little).
        var model = Model("batchnorm-mlp-post-dropout", PoolingMode.Mean);
        float[] x = Compare.Cast<float>(Compare.Random(8 * Features, 1)), y = new float[Outputs];
        int[] lengths = [5];
        for (int i = 0; i < 50; i++) model.Forward(x, y, 1, 8, lengths);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) model.Forward(x, y, 1, 8, lengths);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// Starts <paramref name="longCall"/> on another thread, waits until it is inside the model, then makes
    /// <paramref name="attempt"/>. The attempt is conclusive when the long call was still running when the attempt
    /// returned or threw; then it must have been refused. Longer calls are tried until one attempt is conclusive.
    /// </summary>
    private static void AssertRefusedWhileRunning(bool longCallTrains, Action<SequenceModel<float>> prepareAttempt, Action<SequenceModel<float>> attempt)
    {
        for (int length = 512; length <= 1 << 16; length *= 2)
        {
            var model = Model("layernorm-glu", PoolingMode.Mean);
            model.IsTraining = longCallTrains;
            const int batch = 8;
            float[] x = Compare.Cast<float>(Compare.Random(batch * length * Features, 3)), y = new float[batch * Outputs];
            bool done = false;
            var runner = new Thread(() =>
            {
                model.Forward(x, y, batch, length);
                Volatile.Write(ref done, true);
            });
            runner.Start();
            var wait = System.Diagnostics.Stopwatch.StartNew();
            while (model.CallsInFlight == 0 && !Volatile.Read(ref done) && wait.Elapsed < TimeSpan.FromSeconds(30)) Thread.SpinWait(20);
            prepareAttempt(model);
            Exception? refused = Record.Exception(() => attempt(model));
            bool conclusive = !Volatile.Read(ref done);
            runner.Join();
            if (!conclusive) continue;
            var e = Assert.IsType<InvalidOperationException>(refused);
            Assert.Contains("SequenceModel", e.Message);
            Assert.Contains(longCallTrains ? "training-mode call on the same SequenceModel is running" : "evaluation-mode call(s) on the same SequenceModel are running", e.Message);

            // The long call was not disturbed: it equals the same call made alone.
            var alone = Model("layernorm-glu", PoolingMode.Mean);
            alone.IsTraining = longCallTrains;
            float[] expected = new float[y.Length];
            alone.Forward(x, expected, batch, length);
            Assert.Equal(expected, y);
            return;
        }
        Assert.Fail("No attempt overlapped the long call, even with length 65536.");
    }

    [Fact]
    public void TrainingForward_WhileAnEvaluationForwardRuns_IsRefused() =>
        AssertRefusedWhileRunning(longCallTrains: false, m => m.IsTraining = true,
            m => m.Forward(new float[2 * 3 * Features], new float[2 * Outputs], 2, 3));

    [Fact]
    public void TrainingForward_WhileAnotherTrainingForwardRuns_IsRefused() =>
        AssertRefusedWhileRunning(longCallTrains: true, _ => { },
            m => m.Forward(new float[2 * 3 * Features], new float[2 * Outputs], 2, 3));

    [Fact]
    public void Backward_WhileAnEvaluationForwardRuns_IsRefused() =>
        AssertRefusedWhileRunning(longCallTrains: false, m => m.IsTraining = true, m => m.Backward(new float[8 * Outputs]));

    [Fact]
    public void EvaluationForwardAndStep_WhileATrainingForwardRuns_AreRefused()
    {
        AssertRefusedWhileRunning(longCallTrains: true, m => m.IsTraining = false,
            m => m.Forward(new float[2 * 3 * Features], new float[2 * Outputs], 2, 3));
        AssertRefusedWhileRunning(longCallTrains: true, m => m.IsTraining = false,
            m => m.Step(new float[Features], new float[Outputs], m.CreateState(1)));
    }

    [Fact]
    public void OneState_SteppedWhileAnotherCallHoldsIt_IsRefused_AndThenStepsNormally()
    {
        var model = Model("layernorm-glu", PoolingMode.Mean);
        var state = model.CreateState(1);
        float[] x = [0.5f, -1, 2], y = new float[Outputs], expected = new float[Outputs];
        using (state.Use("Step")) // as a Step on another thread would hold it
        {
            var e = Assert.Throws<InvalidOperationException>(() => model.Step(x, y, state));
            Assert.Contains("another thread is stepping this state", e.Message);
            Assert.Throws<InvalidOperationException>(state.Reset);
        }
        Assert.Equal(0, state.Steps);
        model.Step(x, y, state);
        model.Step(x, expected, model.CreateState(1));
        Assert.Equal(expected, y);
    }

    [Fact]
    public void CallGuard_SharesEvaluationCalls_AndRefusesAnOverlappingTrainingCall()
    {
        var guard = new CallGuard("Thing`1");
        using (guard.Enter(training: false, "Forward"))
        using (guard.Enter(training: false, "Step"))
        {
            Assert.Equal(2, guard.State);
            var e = Assert.Throws<InvalidOperationException>(() => guard.Enter(training: true, "Forward"));
            Assert.Contains("Thing.Forward in training mode was refused: 2 evaluation-mode call(s)", e.Message);
        }
        Assert.Equal(0, guard.State);
        using (guard.Enter(training: true, "Backward"))
        {
            Assert.Equal(-1, guard.State);
            Assert.Contains("another training-mode call", Assert.Throws<InvalidOperationException>(() => guard.Enter(training: true, "Forward")).Message);
            Assert.Contains("Thing.Step was refused", Assert.Throws<InvalidOperationException>(() => guard.Enter(training: false, "Step")).Message);
        }
        Assert.Equal(0, guard.State);
        using (guard.Enter(training: true, "Forward")) Assert.Equal(-1, guard.State);
    }
}
