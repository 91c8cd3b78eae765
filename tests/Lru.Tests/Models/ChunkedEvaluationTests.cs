using System.Numerics;
using Lru.Layers;
using Lru.Models;
using Lru.Modules;
using Lru.Scans;
using Lru.Tensors;
using Lru.Tests.Modules;
using Lru.Tests.Support;

namespace Lru.Tests.Models;

/// <summary>
/// Evaluation passes chunk by chunk of time steps (<see cref="ChunkedEvaluation"/>) against the module-by-module
/// wiring written out here, each module over the whole batch: the same bits, for every kind of block the library builds,
/// on shapes whose last chunk is longer than the others and whose widths leave vector tails.
/// </summary>
[Collection(nameof(ThreadCountSetting))]
public class ChunkedEvaluationTests
{
    private static LruBlockConfig Config(int h, int n) => new(new LruConfig(h, n, RMin: 0.5, RMax: 0.95));

    public static IEnumerable<object[]> Blocks()
    {
        yield return ["pre-LN-GLU", Config(64, 64)];
        yield return ["post-LN-GLU", Config(40, 24) with { Placement = NormPlacement.Post }];
        yield return ["pre-BN-MLP", Config(24, 32) with { Norm = NormKind.BatchNorm, Mixer = MixerKind.Mlp, MlpExpansion = 2 }];
        yield return ["post-BN-GLU-dropout", Config(40, 40) with { Norm = NormKind.BatchNorm, Placement = NormPlacement.Post, DropoutRate = 0.3 }];
        yield return ["pre-BN-GLU-tanh", Config(64, 16) with { Norm = NormKind.BatchNorm, Gelu = GeluApproximation.Tanh }];
        yield return ["no-residual", Config(33, 20) with { Residual = false }];
    }

    [Theory, MemberData(nameof(Blocks))]
    public void Block_Float_EqualsTheModuleByModuleWiring_BitForBit(string name, LruBlockConfig config) => CheckBlock<float>(name, config);

    [Theory, MemberData(nameof(Blocks))]
    public void Block_Double_EqualsTheModuleByModuleWiring_BitForBit(string name, LruBlockConfig config) => CheckBlock<double>(name, config);

    private static void CheckBlock<T>(string name, LruBlockConfig config) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = config.Lru.Hidden;
        var block = Trained<T>(new LruBlock<T>(config, seed: 5), h);
        // L = 1000: one chunk and a longer last one at these widths (more at the narrow ones); L = 64: one chunk.
        foreach (var (batch, length) in new[] { (4, 1000), (2, 64), (9, 300) })
        {
            Assert.True(ChunkedEvaluation.Pays(new SequenceShape(batch, length), 2), $"{name}: ({batch}, {length}) should run chunked on two threads");
            Assert.True(block.EvaluatesInChunks(batch, length), name);
            T[] x = Compare.Cast<T>(Compare.Random(batch * length * h, 11, scale: 1.5));
            T[] expected = ReferenceBlock(block, x, batch, length);
            foreach (int threads in new[] { 2, 1 })
            {
                T[] y = WithThreads(threads, () =>
                {
                    T[] result = new T[x.Length];
                    block.Forward(x, result, batch, length);
                    return result;
                });
                Assert.True(expected.AsSpan().SequenceEqual(y), $"{name}, ({batch}, {length}), {threads} thread(s): chunked evaluation differs from the wiring");
            }
        }
    }

    [Fact]
    public void Model_EqualsItsChildrenRunOneByOne_BitForBit_AndTheChunkedRunTakesEncoderAndBlocks()
    {
        const int batch = 6, length = 700, features = 3, h = 48;
        var config = new SequenceModelConfig(features, 0, 5, 3, Config(h, 40) with { Norm = NormKind.BatchNorm, DropoutRate = 0.1 });
        var model = new SequenceModel<float>(config, seed: 2);
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * features, 4));
        float[] train = new float[model.OutputSize(batch, length)];
        model.Forward(x, train, batch, length); // a training pass: the running statistics move
        model.IsTraining = false;
        Assert.True(model.Encoder!.EvaluatesInChunks(batch, length));
        Assert.True(((Sequential<float>)model[1]).EvaluatesInChunks(batch, length));
        Assert.False(model.EvaluatesInChunks(batch, length)); // the pooling ends the run

        float[] encoded = new float[batch * length * h];
        model.Encoder.Forward(x, encoded, new SequenceShape(batch, length), training: false);
        foreach (var block in model.Blocks) encoded = ReferenceBlock(block, encoded, batch, length);
        float[] pooled = new float[batch * h], expected = new float[model.OutputSize(batch, length)];
        model.Pooling.Forward(encoded, pooled, new SequenceShape(batch, length), training: false);
        model[3].Forward(pooled, expected, new SequenceShape(batch, 1), training: false);

        float[] y = WithThreads(2, () =>
        {
            float[] result = new float[expected.Length];
            model.Forward(x, result, batch, length);
            return result;
        });
        Assert.Equal(expected, y);
    }

    /// <summary>
    /// The chunked pass on one thread (every chunk on the calling thread) allocates nothing once its work arrays are in
    /// the modules' pools, and concurrent chunked evaluations of one model (each call with its own work arrays and
    /// carried states) give the serial result.
    /// </summary>
    [Fact]
    public void Chunked_AllocatesNothingInSteadyState_AndConcurrentCallsGiveTheSerialResult()
    {
        const int batch = 4, length = 600, features = 2;
        var model = new SequenceModel<float>(new SequenceModelConfig(features, 0, 3, 2, Config(32, 32) with { Norm = NormKind.BatchNorm }), seed: 8)
        {
            IsTraining = false,
        };
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * features, 3)), y = new float[model.OutputSize(batch, length)];
        float[] serial = WithThreads(1, () =>
        {
            for (int i = 0; i < 5; i++) model.Forward(x, y, batch, length);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) model.Forward(x, y, batch, length);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            return (float[])y.Clone();
        });
        float[][] results = new float[4][];
        WithThreads(2, () =>
        {
            Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = results.Length }, t =>
            {
                float[] own = new float[serial.Length];
                for (int i = 0; i < 3; i++) model.Forward(x, own, batch, length);
                results[t] = own;
            });
            return 0;
        });
        foreach (float[] r in results) Assert.Equal(serial, r);
    }

    [Fact]
    public void WhatCannotGoInChunks_SaysSo_AndPaddingOrAFewSequencesTakeTheWholePass()
    {
        Assert.False(new LruBlock<float>(Config(8, 8) with { Bidirectional = true }).EvaluatesInChunks(4, 200));
        Assert.False(new LruLayer<float>(new LruConfig(8, 8, Reverse: true)).EvaluatesInChunks(4, 200));
        Assert.False(new LruLayer<float>(new LruConfig(8, 8)) { Scan = ScanMode.Tree }.EvaluatesInChunks(4, 200));
        Assert.False(new Sequential<float>(new Linear<float>(8, 8), new FeatureGain<float>(8)).EvaluatesInChunks(4, 200)); // a module written outside
        Assert.False(new Residual<float>(new Linear<float>(8, 8), new Gelu<float>(8)).EvaluatesInChunks(4, 200)); // its own wiring
        Assert.True(new Sequential<float>(new Linear<float>(8, 8), new Gelu<float>(8), new LruLayer<float>(new LruConfig(8, 8))).EvaluatesInChunks(4, 200));
        Assert.False(ChunkedEvaluation.Pays(new SequenceShape(4, 200, [200, 150, 200, 9]), 2));
        Assert.False(ChunkedEvaluation.Pays(new SequenceShape(4, ChunkedEvaluation.MinLength - 1), 2));
        Assert.False(ChunkedEvaluation.Pays(new SequenceShape(3, 200), 2));
        Assert.True(ChunkedEvaluation.Pays(new SequenceShape(3, 200), 1));
    }

    [Fact]
    public void ChunkRows_AreWholeKernelTiles_WithinBounds()
    {
        foreach (int widest in new[] { 1, 16, 64, 65, 256, 1024, 100_000 })
        {
            int rows = ChunkedEvaluation.Rows<float>(widest);
            Assert.InRange(rows, ChunkedEvaluation.MinRows, 504);
            Assert.Equal(0, rows % 12);
        }
        Assert.Equal(252, ChunkedEvaluation.Rows<float>(64));
        Assert.Equal(ChunkedEvaluation.Rows<float>(128), ChunkedEvaluation.Rows<double>(64));
    }

    /// <summary>A training step first, so BatchNorm's running statistics and every parameter are off their initial values.</summary>
    private static LruBlock<T> Trained<T>(LruBlock<T> block, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] x = Compare.Cast<T>(Compare.Random(3 * 50 * h, 7, scale: 2));
        block.Forward(x, new T[x.Length], 3, 50);
        block.IsTraining = false;
        return block;
    }

    /// <summary>The block's evaluation wiring, each child over the whole batch: norm (pre), LRU, GELU, mixer, the skip added after, norm (post).</summary>
    private static T[] ReferenceBlock<T>(LruBlock<T> block, T[] x, int batch, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new SequenceShape(batch, length);
        bool pre = block.Config.Placement == NormPlacement.Pre;
        T[] a = new T[x.Length], b = new T[x.Length], c = new T[x.Length], z = new T[x.Length];
        T[] branch = x;
        if (pre)
        {
            block.Norm.Forward(x, a, shape, training: false);
            branch = a;
        }
        block.Lru.Forward(branch, b, shape, training: false);
        block.Activation.Forward(b, c, shape, training: false);
        block.Mixer.Forward(c, z, shape, training: false);
        if (block.Config.Residual)
            for (int i = 0; i < z.Length; i++) z[i] += x[i];
        if (pre) return z;
        T[] y = new T[x.Length];
        block.Norm.Forward(z, y, shape, training: false);
        return y;
    }

    private static TResult WithThreads<TResult>(int threads, Func<TResult> body)
    {
        int previous = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            return body();
        }
        finally
        {
            Parallelism.MaxThreads = previous;
        }
    }
}
