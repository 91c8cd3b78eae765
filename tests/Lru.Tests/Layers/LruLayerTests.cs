using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime;
using Lru.Layers;
using Lru.Scans;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class LruLayerTests
{
    /// <summary>(B, L, H, N): B = 1, L = 1, H and N not multiples of the vector width, chunk counts that do not divide L.</summary>
    public static IEnumerable<object[]> ModesAndShapes()
    {
        var shapes = new (int B, int L, int H, int N)[] { (1, 1, 1, 1), (2, 5, 3, 7), (1, 40, 17, 33), (3, 9, 16, 16), (1, 2050, 5, 3), (2, 1100, 9, 70) };
        foreach (var mode in new[] { ScanMode.Sequential, ScanMode.Chunked, ScanMode.Tree, ScanMode.Auto })
            foreach (var s in shapes)
                yield return [mode, s.B, s.L, s.H, s.N];
    }

    [Theory, MemberData(nameof(ModesAndShapes))]
    public void Forward_Float_MatchesDoubleReference(ScanMode mode, int batch, int length, int h, int n)
    {
        var layer = new LruLayer<float>(new LruConfig(h, n, RMin: 0.5, RMax: 0.99), seed: 11);
        double[] u = Compare.Random(batch * length * h, 3);
        var (expected, expectedFinal) = ReferenceLru.Forward(layer, u, batch, length);

        float[] y = new float[u.Length], final = new float[batch * 2 * n];
        layer.ForwardWithState(Compare.Cast<float>(u), y, batch, length, default, final, mode, threads: 2);
        Compare.Close<float>(y, expected, 1e-4, mode.ToString());
        Compare.Close<float>(final, Flatten(expectedFinal), 1e-4, "final state");
    }

    [Theory, MemberData(nameof(ModesAndShapes))]
    public void Forward_Double_MatchesReferenceTightly(ScanMode mode, int batch, int length, int h, int n)
    {
        var layer = new LruLayer<double>(new LruConfig(h, n), seed: 5);
        double[] u = Compare.Random(batch * length * h, 4);
        double[] y = new double[u.Length];
        layer.ForwardWithState(u, y, batch, length, initialState: default, mode: mode);
        Compare.Close<double>(y, ReferenceLru.Forward(layer, u, batch, length).Output, 1e-10, mode.ToString());
    }

    [Fact]
    public void Forward_InPieces_EqualsWholeSequence()
    {
        const int batch = 2, length = 300, h = 12, n = 20, split = 123;
        var layer = new LruLayer<double>(new LruConfig(h, n), seed: 2);
        double[] u = Compare.Random(batch * length * h, 8);
        double[] whole = new double[u.Length], wholeFinal = new double[batch * 2 * n];
        layer.ForwardWithState(u, whole, batch, length, default, wholeFinal);

        // Split every sequence at `split`: first pieces, then the rest continued from their final states.
        double[] first = Slice(u, batch, length, h, 0, split), second = Slice(u, batch, length, h, split, length);
        double[] y1 = new double[first.Length], y2 = new double[second.Length];
        double[] mid = new double[batch * 2 * n], end = new double[batch * 2 * n];
        layer.ForwardWithState(first, y1, batch, split, default, mid, ScanMode.Tree);
        layer.ForwardWithState(second, y2, batch, length - split, mid, end, ScanMode.Chunked);
        Compare.Close<double>(Slice(whole, batch, length, h, 0, split), y1, 1e-12);
        Compare.Close<double>(Slice(whole, batch, length, h, split, length), y2, 1e-12);
        Compare.Close<double>(wholeFinal, end, 1e-12);
    }

    [Fact]
    public void Step_EqualsForward_AtEveryTimeStep()
    {
        const int batch = 3, length = 50, h = 19, n = 37;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 4);
        float[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 6));
        float[] y = new float[u.Length];
        layer.Forward(u, y, batch, length);

        var state = layer.CreateState(batch);
        float[] ut = new float[batch * h], yt = new float[batch * h];
        for (int t = 0; t < length; t++)
        {
            for (int b = 0; b < batch; b++) u.AsSpan((b * length + t) * h, h).CopyTo(ut.AsSpan(b * h));
            layer.Step(ut, yt, state);
            var expected = new double[batch * h];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < h; i++) expected[b * h + i] = y[(b * length + t) * h + i];
            Compare.Close<float>(yt, expected, 1e-5, $"t={t}");
        }
    }

    [Fact]
    public void Step_AllocatesNothing()
    {
        var layer = new LruLayer<float>(new LruConfig(128, 256), seed: 1);
        var state = layer.CreateState(4);
        float[] u = Compare.Cast<float>(Compare.Random(4 * 128, 1)), y = new float[4 * 128];
        layer.Step(u, y, state); // builds the derived-weight cache
        // The JIT's work on this thread (first calls, on-stack replacement of a running loop) may allocate; tier-1
        // recompilation runs on the runtime's background thread and allocates nothing here. So the readiness signal is
        // that a whole round of 1000 steps compiled no method on this thread (JitInfo's per-thread count, exact), and
        // that is the round measured: any allocation in it is the layer's. No waiting on a clock.
        for (int round = 1; ; round++)
        {
            long compiled = JitInfo.GetCompiledMethodCount(currentThread: true);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++) layer.Step(u, y, state);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (JitInfo.GetCompiledMethodCount(currentThread: true) == compiled)
            {
                Assert.Equal(0, allocated);
                return;
            }
            Assert.True(round < 20, $"the JIT still compiled methods on this thread in round {round} of 1000 steps");
        }
    }

    [Fact]
    public void Step_RefreshesDerivedWeights_WhenAParameterChanges()
    {
        var layer = new LruLayer<double>(new LruConfig(4, 3), seed: 1);
        var state = layer.CreateState(1);
        double[] u = [1, 2, 3, 4], y = new double[4];
        layer.Step(u, y, state);
        layer.D.Values[0] += 1; layer.D.MarkModified();
        state.Reset();
        double[] y2 = new double[4];
        layer.Step(u, y2, state);
        Assert.Equal(y[0] + 1, y2[0], 1e-12);
    }

    [Fact]
    public void LongSequence_IsStable_AndMatchesDoubleReference()
    {
        // L = 1,000,000 with |λ| = 0.9999. A float λ is off by up to ~6e-8 relative, and the state
        // amplifies that by about 1/(1 − |λ|) = 1e4, so 1e-3 is the tolerance float arithmetic can
        // promise here (the scan itself adds far less: its rounding errors decay with |λ|^k).
        const int length = 1_000_000, h = 2, n = 4;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 3);
        for (int j = 0; j < n; j++) layer.NuLog.Values[j] = MathF.Log(-MathF.Log(0.9999f));
        layer.NuLog.MarkModified();
        double[] u = Compare.Random(length * h, 1);
        var (expected, _) = ReferenceLru.Forward(layer, u, 1, length);
        float[] y = new float[u.Length];
        foreach (var mode in new[] { ScanMode.Sequential, ScanMode.Chunked, ScanMode.Tree })
        {
            layer.ForwardWithState(Compare.Cast<float>(u), y, 1, length, initialState: default, mode: mode);
            Assert.All(y, v => Assert.True(float.IsFinite(v)));
            Compare.Close<float>(y, expected, 1e-3, mode.ToString());
        }
    }

    [Fact]
    public void SameSeed_GivesIdenticalInitialisation_AndRingHolds()
    {
        var config = new LruConfig(10, 50, RMin: 0.4, RMax: 0.9, MaxPhase: Math.PI / 10);
        var a = new LruLayer<float>(config, seed: 42);
        var b = new LruLayer<float>(config, seed: 42);
        var c = new LruLayer<float>(config, seed: 43);
        for (int p = 0; p < a.Parameters.Count; p++)
        {
            Assert.Equal(a.Parameters[p].Values, b.Parameters[p].Values);
            Assert.NotEqual(a.Parameters[p].Values, c.Parameters[p].Values);
        }
        foreach (var lambda in ReferenceLru.Lambda(a))
        {
            Assert.InRange(lambda.Magnitude, 0.4 - 1e-6, 0.9 + 1e-6);
            Assert.InRange(lambda.Phase, 0, Math.PI / 10 + 1e-6);
        }
        // γ = sqrt(1 − |λ|²) exactly as LRU-MATH §1.
        var lam = ReferenceLru.Lambda(a);
        for (int j = 0; j < 50; j++)
            Assert.Equal(Math.Sqrt(1 - lam[j].Magnitude * lam[j].Magnitude), Math.Exp(a.GammaLog.Values[j]), 1e-5);
    }

    [Fact]
    public void ParameterNames_AndShapes_FollowLruMath()
    {
        var layer = new LruLayer<float>(new LruConfig(6, 4));
        Assert.Equal(["nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D"], layer.Parameters.Select(p => p.Name));
        Assert.Equal([4], layer.NuLog.Shape.ToArray());
        Assert.Equal([4, 6], layer.BRe.Shape.ToArray());
        Assert.Equal([6, 4], layer.CIm.Shape.ToArray());
        Assert.Equal([6], layer.D.Shape.ToArray());
        Assert.Equal(["nu_log", "theta_log", "gamma_log", "B_re", "B_im"], LruLayer<float>.RecurrentParameterNames);
    }

    [Theory]
    [InlineData(0, 4, 0.5, 0.9, 1.0, "Hidden")]
    [InlineData(4, 0, 0.5, 0.9, 1.0, "State")]
    [InlineData(4, 4, -0.1, 0.9, 1.0, "RMin")]
    [InlineData(4, 4, 0.9, 0.5, 1.0, "RMax")]
    [InlineData(4, 4, 0.5, 1.0, 1.0, "RMax")]
    [InlineData(4, 4, 0.5, 0.9, 0.0, "MaxPhase")]
    [InlineData(4, 4, 0.5, 0.9, double.NaN, "MaxPhase")]
    public void InvalidSettings_AreRefused_WithTheirName(int h, int n, double rMin, double rMax, double maxPhase, string name)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LruLayer<float>(new LruConfig(h, n, rMin, rMax, maxPhase)));
        Assert.Equal(name, e.ParamName);
    }

    [Fact]
    public void BadShapes_AreRefused_WithExpectedAndActual()
    {
        var layer = new LruLayer<float>(new LruConfig(4, 3));
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(new float[23], new float[24], 2, 3));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("length 23", e.Message);
        Assert.Contains("needs 24", e.Message);
        Assert.Equal("initialState", Assert.Throws<ArgumentException>(() => layer.ForwardWithState(new float[24], new float[24], 2, 3, new float[5])).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Step(new float[8], new float[7], layer.CreateState(2))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Create(new float[30], [2, 3, 5]))).ParamName);
    }

    [Fact]
    public void TensorSpanOverload_WorksOnSystemNumericsTensors_WithoutCopy()
    {
        const int batch = 2, length = 7, h = 5, n = 6;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 1);
        float[] data = Compare.Cast<float>(Compare.Random(batch * length * h, 1));
        Tensor<float> input = Tensor.Create(data, [batch, length, h]);
        Tensor<float> output = Tensor.Create(new float[data.Length], [batch, length, h]);
        layer.Forward(input.AsReadOnlyTensorSpan(), output.AsTensorSpan());

        float[] expected = new float[data.Length];
        layer.Forward(data, expected, batch, length);
        float[] actual = new float[data.Length];
        output.FlattenTo(actual);
        Assert.Equal(expected, actual);

        Tensor<float> returned = layer.Forward(input);
        Assert.Equal([(nint)batch, length, h], returned.Lengths.ToArray());
        returned.FlattenTo(actual);
        Assert.Equal(expected, actual);
    }

    private static double[] Flatten(Complex[,] x)
    {
        int batch = x.GetLength(0), n = x.GetLength(1);
        var flat = new double[batch * 2 * n];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < n; j++) { flat[b * 2 * n + j] = x[b, j].Real; flat[b * 2 * n + n + j] = x[b, j].Imaginary; }
        return flat;
    }

    private static double[] Slice(double[] u, int batch, int length, int h, int from, int to)
    {
        var result = new double[batch * (to - from) * h];
        for (int b = 0; b < batch; b++)
            u.AsSpan((b * length + from) * h, (to - from) * h).CopyTo(result.AsSpan(b * (to - from) * h));
        return result;
    }
}

/// <summary>The layer on one and on two threads (really two: <see cref="TwoThreads"/>), apart from other tests so the worker pool is free.</summary>
[Collection(nameof(ThreadCountSetting))]
public class LruLayerThreadCountTests
{
    [Fact]
    public void Forward_IsBitIdentical_ForOneAndTwoThreads()
    {
        foreach (var (batch, length, h, n) in new[] { (8, 128, 128, 256), (1, 4096, 64, 64) })
        {
            var layer = new LruLayer<float>(new LruConfig(h, n), seed: 9);
            float[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 2));
            float[] one = new float[u.Length], two = new float[u.Length];
            layer.ForwardWithState(u, one, batch, length, initialState: default, threads: 1);
            TwoThreads.Prove(() =>
            {
                layer.ForwardWithState(u, two, batch, length, initialState: default, threads: 2);
                return two;
            }, result => Assert.Equal(one, result), $"Forward of ({batch}, {length}, {h}), N = {n}");
        }
    }
}
