using System.Numerics;
using Lru.Tensors;

namespace Lru.Tests.Tensors;

/// <summary>
/// <see cref="RowOps"/> against scalar loops of the same expressions. SIMD lanes compute exactly the
/// scalar IEEE operations in the same order, so the results must be bit-identical for every width
/// (h covers vector-only, tail-only and mixed rows).
/// </summary>
public class RowOpsTests
{
    // h = 300 takes the per-row TensorPrimitives path of the accumulating forms (RowOps.PerRowCallsFrom).
    public static TheoryData<int, int> Shapes() => new() { { 1, 1 }, { 3, 7 }, { 5, 16 }, { 4, 64 }, { 2, 75 }, { 9, 130 }, { 3, 300 } };

    [Theory, MemberData(nameof(Shapes))]
    public void MultiplyRows_EqualsTheScalarLoop(int rows, int h)
    {
        Check<float>(rows, h);
        Check<double>(rows, h);

        static void Check<T>(int rows, int h) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(rows * 100 + h);
            T[] x = Fill<T>(rng, rows * h), d = Fill<T>(rng, h), y = new T[rows * h];
            RowOps.MultiplyRows<T>(x, d, y, rows);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < h; c++)
                    Assert.True(x[r * h + c] * d[c] == y[r * h + c], $"r={r} c={c}");
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void MultiplyRows_Accumulating_EqualsTheScalarLoop(int rows, int h)
    {
        Check<float>(rows, h);
        Check<double>(rows, h);

        static void Check<T>(int rows, int h) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(rows * 100 + h + 2);
            T[] x = Fill<T>(rng, rows * h), d = Fill<T>(rng, h), y = Fill<T>(rng, rows * h);
            T[] expected = (T[])y.Clone();
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < h; c++) expected[r * h + c] = x[r * h + c] * d[c] + expected[r * h + c];
            RowOps.MultiplyRows<T>(x, d, y, rows, accumulate: true);
            Assert.Equal(expected, y);
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void AccumulateProducts_EqualsTheScalarLoop_InRowOrder(int rows, int h)
    {
        Check<float>(rows, h);
        Check<double>(rows, h);

        static void Check<T>(int rows, int h) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new Random(rows * 100 + h + 1);
            T[] a = Fill<T>(rng, rows * h), b = Fill<T>(rng, rows * h), acc = Fill<T>(rng, h);
            T[] expected = (T[])acc.Clone();
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < h; c++) expected[c] = a[r * h + c] * b[r * h + c] + expected[c];
            RowOps.AccumulateProducts<T>(a, b, acc, rows);
            Assert.Equal(expected, acc);
        }
    }

    [Fact]
    public void WrongLengths_AreRefused_WithTheArgumentName()
    {
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => RowOps.MultiplyRows<float>(new float[5], new float[3], new float[6], 2)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => RowOps.MultiplyRows<float>(new float[6], new float[3], new float[5], 2)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => RowOps.AccumulateProducts<float>(new float[6], new float[5], new float[3], 2)).ParamName);
    }

    private static T[] Fill<T>(Random rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var v = new T[length];
        for (int i = 0; i < length; i++) v[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        return v;
    }
}
