using Lru.Layers;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class DenseToDiagonalTests
{
    /// <summary>A random stable A (spectral radius about 0.9) with real and complex eigenvalues.</summary>
    private static double[,] StableMatrix(int n, int seed)
    {
        var random = new SeededRandom(seed);
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) a[i, j] = random.NextNormal() * 0.9 / Math.Sqrt(n) * 0.7;
        return a;
    }

    private static double[,] RandomMatrix(int rows, int cols, int seed)
    {
        var random = new SeededRandom(seed);
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = random.NextNormal();
        return m;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(6, 3)]
    [InlineData(9, 4)]
    public void ConvertedLayer_MatchesTheDenseRecurrence_StepByStep(int n, int h)
    {
        double[,] a = StableMatrix(n, n), b = RandomMatrix(n, h, 2), c = RandomMatrix(h, n, 3);
        double[] d = Compare.Random(h, 4);
        var layer = DenseToDiagonal.Convert<double>(a, b, c, d);

        const int batch = 2, length = 40;
        double[] u = Compare.Random(batch * length * h, 5), y = new double[u.Length], expected = new double[u.Length];
        layer.IsTraining = false;
        layer.Forward(u, y, batch, length);
        for (int s = 0; s < batch; s++)
        {
            var state = new double[n];
            for (int t = 0; t < length; t++)
            {
                int row = (s * length + t) * h;
                var next = new double[n];
                for (int i = 0; i < n; i++)
                {
                    double v = 0;
                    for (int j = 0; j < n; j++) v += a[i, j] * state[j];
                    for (int j = 0; j < h; j++) v += b[i, j] * u[row + j];
                    next[i] = v;
                }
                state = next;
                for (int i = 0; i < h; i++)
                {
                    double v = d[i] * u[row + i];
                    for (int j = 0; j < n; j++) v += c[i, j] * state[j];
                    expected[row + i] = v;
                }
            }
        }
        Compare.Close<double>(y, expected, 1e-9);
    }

    [Fact]
    public void Unstable_NonDiagonalisable_AndBadShapes_AreRefused()
    {
        double[,] b = RandomMatrix(2, 1, 1), c = RandomMatrix(1, 2, 2);
        double[] d = [0.5];
        var unstable = Assert.Throws<ArgumentException>(() => DenseToDiagonal.Convert<double>(new double[,] { { 1.2, 0 }, { 0, 0.5 } }, b, c, d));
        Assert.Equal("a", unstable.ParamName);
        Assert.Contains("≥ 1", unstable.Message);
        var jordan = Assert.Throws<ArgumentException>(() => DenseToDiagonal.Convert<double>(new double[,] { { 0.5, 1 }, { 0, 0.5 } }, b, c, d));
        Assert.Contains("not diagonalisable", jordan.Message);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => DenseToDiagonal.Convert<double>(new double[,] { { 0.5, 0 }, { 0, 0.5 } }, RandomMatrix(3, 1, 1), c, d)).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => DenseToDiagonal.Convert<double>(new double[,] { { double.NaN, 0 }, { 0, 0.5 } }, b, c, d)).ParamName);
    }
}
