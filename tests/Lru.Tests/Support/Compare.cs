using System.Numerics;

namespace Lru.Tests.Support;

internal static class Compare
{
    /// <summary>
    /// Normwise relative error max|a − ref| / max|ref|. Per-element relative error is meaningless
    /// where the reference passes through zero; the normwise form bounds every element's error by
    /// the tolerance times the scale of the whole result.
    /// </summary>
    public static double RelativeError<T>(ReadOnlySpan<T> actual, ReadOnlySpan<double> reference) where T : INumberBase<T>
    {
        Assert.Equal(reference.Length, actual.Length);
        double maxErr = 0, maxRef = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = double.CreateChecked(actual[i]);
            Assert.False(double.IsNaN(a) || double.IsInfinity(a), $"element {i} is {a}");
            maxErr = Math.Max(maxErr, Math.Abs(a - reference[i]));
            maxRef = Math.Max(maxRef, Math.Abs(reference[i]));
        }
        return maxErr / Math.Max(maxRef, 1e-30);
    }

    public static void Close<T>(ReadOnlySpan<T> actual, ReadOnlySpan<double> reference, double tolerance, string what = "") where T : INumberBase<T>
    {
        double err = RelativeError(actual, reference);
        Assert.True(err <= tolerance, $"{what}: relative error {err:E3} exceeds {tolerance:E1}");
    }

    public static double[] Random(int count, int seed, double scale = 1.0)
    {
        var rng = new Lru.Tensors.SeededRandom(seed);
        var values = new double[count];
        for (int i = 0; i < count; i++) values[i] = scale * rng.NextNormal();
        return values;
    }

    public static T[] Cast<T>(double[] values) where T : INumberBase<T> => values.Select(T.CreateChecked).ToArray();

    public static double[] ToDouble<T>(ReadOnlySpan<T> values) where T : INumberBase<T>
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = double.CreateChecked(values[i]);
        return result;
    }
}
