using System.Numerics;
using Lru.Tensors;

namespace Lru.Tests.Tensors;

/// <summary>
/// <see cref="PanelMatrix{T}"/> against a plain loop. Every output of the panel kernels is the
/// fused multiply-add chain <c>s ← x_i·w_ij + s</c> over i in increasing order, whatever the panel
/// (8 vectors, 1 vector or scalar tail), so the reference does the same chain and the results must be
/// bit-identical; no tolerance is needed.
/// </summary>
public class PanelMatrixTests
{
    public static TheoryData<int, int, int> Shapes()
    {
        var data = new TheoryData<int, int, int>();
        // n covers: scalar tail only, one vector, vector + tail, 8-vector panels, all three kinds.
        foreach (int n in new[] { 1, 5, 16, 17, 128, 130, 150, 515 })
            foreach (int k in new[] { 1, 3, 128 })
                data.Add(k, n, n % 2 == 0 ? 1 : 3);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyRows_EqualsInOrderFusedSums_Float(int k, int n, int rows) => Check<float>(k, n, rows);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyRows_EqualsInOrderFusedSums_Double(int k, int n, int rows) => Check<double>(k, n, rows);

    private static void Check<T>(int k, int n, int rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(k * 1000 + n);
        T[] w = Fill<T>(rng, k * n), x = Fill<T>(rng, rows * k), y0 = Fill<T>(rng, rows * n);
        var wT = new T[n * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++) wT[j * k + i] = w[i * n + j];

        foreach (bool transposed in new[] { false, true })
        {
            var m = new PanelMatrix<T>(k, n);
            m.Pack(transposed ? wT : w, transposed);
            foreach (bool accumulate in new[] { false, true })
            {
                var y = (T[])y0.Clone();
                m.MultiplyRows(x, y, rows, accumulate);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < n; j++)
                    {
                        T s = accumulate ? y0[r * n + j] : T.Zero;
                        for (int i = 0; i < k; i++) s = T.FusedMultiplyAdd(x[r * k + i], w[i * n + j], s);
                        Assert.True(s == y[r * n + j], $"k={k} n={n} r={r} j={j} transposed={transposed} accumulate={accumulate}: {y[r * n + j]} vs {s}");
                    }
            }
        }
    }

    [Fact]
    public void WrongLengths_AreRefused_WithTheArgumentName()
    {
        var m = new PanelMatrix<float>(3, 4);
        Assert.Equal("source", Assert.Throws<ArgumentException>(() => m.Pack(new float[11], transposed: false)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => m.MultiplyRows(new float[5], new float[8], 2, false)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => m.MultiplyRows(new float[6], new float[7], 2, false)).ParamName);
    }

    private static T[] Fill<T>(Random rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new T[length];
        for (int i = 0; i < length; i++) a[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        return a;
    }
}
