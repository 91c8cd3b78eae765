using System.Numerics;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Tensors;

/// <summary>
/// <see cref="Elementwise"/> against scalar loops of the same expressions (product rounded, then added; no fused
/// multiply-add), so every result must be bit-identical, on one thread and on two (with work proved to have run on a
/// helper). Lengths straddle the chunk size so the last chunk is partial; rows of h = 75 leave vector tails.
/// </summary>
[Collection(nameof(ThreadCountSetting))]
public class ElementwiseTests
{
    private const int Long = 2 * Elementwise.ChunkElements + 1234;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void FlatForms_EqualTheScalarLoops(int threads)
    {
        Check<float>(threads);
        Check<double>(threads);

        static void Check<T>(int threads) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(threads);
            T[] x = Fill<T>(rng, Long), y = Fill<T>(rng, Long), z = Fill<T>(rng, Long);

            T[] sum = Run(threads, () => { var d = new T[Long]; Elementwise.Add<T>(x, y, d, threads); return d; });
            T[] product = Run(threads, () => { var d = new T[Long]; Elementwise.Multiply<T>(x, y, d, accumulate: false, threads); return d; });
            T[] accumulated = Run(threads, () => { var d = (T[])z.Clone(); Elementwise.Multiply<T>(x, y, d, accumulate: true, threads); return d; });
            T[] copy = Run(threads, () => { var d = new T[Long]; Elementwise.Copy<T>(x, d, threads); return d; });
            for (int i = 0; i < Long; i++)
            {
                Assert.True(sum[i] == x[i] + y[i], $"add i={i}");
                Assert.True(product[i] == x[i] * y[i], $"multiply i={i}");
                Assert.True(accumulated[i] == x[i] * y[i] + z[i], $"multiply-add i={i}");
                Assert.True(copy[i] == x[i], $"copy i={i}");
            }
        }
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(2, 64)]
    [InlineData(2, 75)]
    public void RowForms_EqualTheScalarLoops(int threads, int h)
    {
        Check<float>(threads, h);
        Check<double>(threads, h);

        static void Check<T>(int threads, int h) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(threads * 1000 + h);
            int rows = Long / h;
            T[] x = Fill<T>(rng, rows * h), d = Fill<T>(rng, h), z = Fill<T>(rng, rows * h);
            T[] product = Run(threads, () => { var y = new T[rows * h]; Elementwise.MultiplyRows<T>(x, d, y, rows, accumulate: false, threads); return y; });
            T[] accumulated = Run(threads, () => { var y = (T[])z.Clone(); Elementwise.MultiplyRows<T>(x, d, y, rows, accumulate: true, threads); return y; });
            T[] broadcast = Run(threads, () => { var y = new T[rows * h]; Elementwise.BroadcastRows<T>(d, y, rows, threads); return y; });
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < h; c++)
                {
                    int i = r * h + c;
                    Assert.True(product[i] == x[i] * d[c], $"rows r={r} c={c}");
                    Assert.True(accumulated[i] == x[i] * d[c] + z[i], $"rows accumulate r={r} c={c}");
                    Assert.True(broadcast[i] == d[c], $"broadcast r={r} c={c}");
                }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void DestinationMayBeAnInput_AsTheCallersUseIt(int threads)
    {
        var rng = new Random(11 + threads);
        float[] x = Fill<float>(rng, Long), y = Fill<float>(rng, Long), d = Fill<float>(rng, 300);
        float[] sum = Run(threads, () => { var z = (float[])x.Clone(); Elementwise.Add<float>(z, y, z, threads); return z; });
        float[] product = Run(threads, () => { var z = (float[])x.Clone(); Elementwise.Multiply<float>(z, y, z, accumulate: false, threads); return z; });
        int rows = Long / 300;
        // h = 300 ≥ RowOps.PerRowCallsFrom: the per-row library path of MultiplyRows.
        float[] rowsInPlace = Run(threads, () => { var z = x[..(rows * 300)]; Elementwise.MultiplyRows<float>(z, d, z, rows, accumulate: false, threads); return z; });
        for (int i = 0; i < Long; i++)
        {
            Assert.True(sum[i] == x[i] + y[i], $"add in place i={i}");
            Assert.True(product[i] == x[i] * y[i], $"multiply in place i={i}");
        }
        for (int i = 0; i < rows * 300; i++) Assert.True(rowsInPlace[i] == x[i] * d[i % 300], $"rows in place i={i}");
    }

    [Fact]
    public void EmptyInputs_DoNothing()
    {
        Elementwise.Add<float>([], [], [], 2);
        Elementwise.MultiplyRows<double>([], new double[4], [], 0, accumulate: true, 2);
        Elementwise.MultiplySequences<double>([], [], [], 0, 5, accumulate: false, 2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SequenceForm_EqualsTheScalarLoop(int threads)
    {
        const int batch = 5, length = 131, h = 75;
        var rng = new Random(7 + threads);
        float[] x = Fill<float>(rng, batch * length * h), mask = Fill<float>(rng, batch * h), z = Fill<float>(rng, batch * length * h);
        float[] product = Run(threads, () => { var y = new float[x.Length]; Elementwise.MultiplySequences<float>(x, mask, y, batch, length, accumulate: false, threads); return y; });
        float[] accumulated = Run(threads, () => { var y = (float[])z.Clone(); Elementwise.MultiplySequences<float>(x, mask, y, batch, length, accumulate: true, threads); return y; });
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int c = 0; c < h; c++)
                {
                    int i = (b * length + t) * h + c;
                    Assert.True(product[i] == x[i] * mask[b * h + c], $"b={b} t={t} c={c}");
                    Assert.True(accumulated[i] == x[i] * mask[b * h + c] + z[i], $"accumulate b={b} t={t} c={c}");
                }
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(2, 64)]
    [InlineData(2, 75)]
    public void ColumnSums_EqualTheRowByRowLoop(int threads, int h)
    {
        Check<float>(threads, h);
        Check<double>(threads, h);

        static void Check<T>(int threads, int h) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(threads * 100 + h);
            int rows = Long / h;
            T[] x = Fill<T>(rng, rows * h), start = Fill<T>(rng, h);
            T[] sums = Run(threads, () => { var s = (T[])start.Clone(); Elementwise.AddColumnSums<T>(x, s, rows, threads); return s; });
            for (int c = 0; c < h; c++)
            {
                T expected = start[c];
                for (int r = 0; r < rows; r++) expected += x[r * h + c];
                Assert.True(sums[c] == expected, $"column {c}: {sums[c]} vs {expected}");
            }
        }
    }

    [Fact]
    public void MismatchedLengths_AreRefusedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => Elementwise.Add<float>(new float[4], new float[3], new float[4], 1));
        Assert.Equal("y", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Elementwise.MultiplyRows<float>(new float[12], new float[4], new float[8], 3, false, 1));
        Assert.Equal("y", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Elementwise.MultiplySequences<float>(new float[24], new float[8], new float[24], 2, 4, false, 1));
        Assert.Equal("x", e.ParamName);
    }

    private static T[] Run<T>(int threads, Func<T[]> work) =>
        threads == 1 ? work() : TwoThreads.Prove(work, _ => { }, "Elementwise on two threads");

    private static T[] Fill<T>(Random rng, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[count];
        for (int i = 0; i < count; i++) a[i] = T.CreateTruncating(rng.NextDouble() * 4 - 2);
        return a;
    }
}
