using System.Numerics;
using Lru.Scans;
using Lru.Tests.Support;

namespace Lru.Tests.Scans;

/// <summary>
/// <see cref="DiagonalKernels{T}.ScanRows"/> (the running state in registers, four vectors of channels at a time, then
/// single vectors, then the rest row by row) against the plain recurrence written out per element with the same
/// expression, <c>re ← (λr·pr − λi·pi) + re</c>, <c>im ← (λr·pi + λi·pr) + im</c>: bit for bit, for channel counts that
/// take every one of the three parts, going up and down memory, from a carried state or from the first row, over 0, 1, 2
/// and 37 rows. The register paths run where the CPU has 512-bit vectors (the project's machine); elsewhere every
/// channel takes the row-by-row part, which these cases then check alone.
/// </summary>
public class DiagonalKernelsTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (int n in new[] { 1, 3, 16, 17, 64, 100, 130 })
            foreach (bool descending in new[] { false, true })
                foreach (bool carry in new[] { false, true })
                    yield return [n, descending, carry];
    }

    [Theory, MemberData(nameof(Cases))]
    public void Float_ScanRows_EqualsThePlainRecurrence(int n, bool descending, bool carry) => Check<float>(n, descending, carry);

    [Theory, MemberData(nameof(Cases))]
    public void Double_ScanRows_EqualsThePlainRecurrence(int n, bool descending, bool carry) => Check<double>(n, descending, carry);

    private static unsafe void Check<T>(int n, bool descending, bool carry) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (int count in new[] { 0, 1, 2, 37 }) Check<T>(n, descending, carry, count);
    }

    private static unsafe void Check<T>(int n, bool descending, bool carry, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (lrD, liD) = DiagonalRecurrenceTests.RandomLambda(n, n);
        T[] lamRe = Compare.Cast<T>(lrD), lamIm = Compare.Cast<T>(liD);
        T[] rows = Compare.Cast<T>(Compare.Random(Math.Max(1, count) * 2 * n, 1)), x0 = Compare.Cast<T>(Compare.Random(2 * n, 2));
        // Channels [c0, c1): the whole row, and a range that starts off a vector boundary and stops short of the end.
        foreach (var (c0, c1) in new[] { (0, n), (n / 3, n - n / 4) })
        {
            T[] expected = (T[])rows.Clone(), actual = (T[])rows.Clone();
            int w = 2 * n;
            for (int c = c0; c < c1; c++)
            {
                bool has = carry;
                T pr = x0[c], pi = x0[n + c];
                for (int i = 0; i < count; i++)
                {
                    int row = (descending ? count - 1 - i : i) * w;
                    if (has)
                    {
                        expected[row + c] = lamRe[c] * pr - lamIm[c] * pi + expected[row + c];
                        expected[row + n + c] = lamRe[c] * pi + lamIm[c] * pr + expected[row + n + c];
                    }
                    has = true;
                    pr = expected[row + c];
                    pi = expected[row + n + c];
                }
            }
            fixed (T* lr = lamRe, li = lamIm, x = actual, p0 = x0)
                DiagonalKernels<T>.ScanRows(lr, li, descending ? x + Math.Max(0, count - 1) * w : x, descending ? -w : w, count, carry ? p0 : null, n, c0, c1);
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>
    /// <see cref="DiagonalKernels{T}.AccumulateConjugateProducts"/> (sums in registers over the rows) against
    /// <see cref="DiagonalKernels{T}.AccumulateConjugateProduct"/> called row by row: bit for bit, for channel counts that
    /// take the four-vector blocks, the single vectors and the channel-by-channel rest (12 and 24 take the row-by-row
    /// kernel's 256-bit path there), over 0, 1 and 37 rows, rows a row apart (the layer's case) and further apart.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(17)]
    [InlineData(24)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(130)]
    public void AccumulateConjugateProducts_EqualsRowByRow(int n)
    {
        CheckProducts<float>(n);
        CheckProducts<double>(n);
    }

    private static unsafe void CheckProducts<T>(int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (int count in new[] { 0, 1, 37 })
            foreach (int gap in new[] { 0, 5 })
            {
                int stride = 2 * n + gap;
                T[] d = Compare.Cast<T>(Compare.Random(Math.Max(1, count) * stride, 3)), x = Compare.Cast<T>(Compare.Random(Math.Max(1, count) * stride, 4));
                T[] expected = Compare.Cast<T>(Compare.Random(2 * n, 5)), actual = (T[])expected.Clone();
                fixed (T* pd = d, px = x, pe = expected, pa = actual)
                {
                    for (int i = 0; i < count; i++) DiagonalKernels<T>.AccumulateConjugateProduct(pd + i * stride, px + i * stride, pe, n);
                    DiagonalKernels<T>.AccumulateConjugateProducts(pd, px, stride, count, pa, n);
                }
                Assert.Equal(expected, actual);
            }
    }
}
