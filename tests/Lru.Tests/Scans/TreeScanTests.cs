using Lru.Scans;
using Lru.Tests.Support;

namespace Lru.Tests.Scans;

/// <summary>The generic tree scan with operators other than the LRU's, against a left-to-right fold.</summary>
public class TreeScanTests
{
    public static readonly TheoryData<int> Lengths = new() { 0, 1, 2, 3, 5, 8, 13, 31, 32, 33, 64, 100, 257, 1000 };

    private struct SumOperator : IScanOperator
    {
        public long[] Items;
        public void Combine(int earlier, int later, int laterSpan) => Items[later] = Items[earlier] + Items[later];
    }

    /// <summary>String concatenation: associative and not commutative, so any misordered combine shows.</summary>
    private struct ConcatOperator : IScanOperator
    {
        public string[] Items;
        public int[] Spans;
        public void Combine(int earlier, int later, int laterSpan)
        {
            Assert.Equal(Spans[later], laterSpan);
            Items[later] = Items[earlier] + Items[later];
            Spans[later] += Spans[earlier];
        }
    }

    /// <summary>Affine maps x ↦ a·x + b with a different a per step (a general time-varying linear recurrence).</summary>
    internal struct AffineOperator : IScanOperator
    {
        public double[] A, B;
        public void Combine(int earlier, int later, int laterSpan)
        {
            B[later] = A[later] * B[earlier] + B[later];
            A[later] = A[later] * A[earlier];
        }
    }

    /// <summary>2×2 matrix products (later · earlier): non-commutative and exact on small integers.</summary>
    private struct MatrixOperator : IScanOperator
    {
        public long[][] M;
        public void Combine(int earlier, int later, int laterSpan)
        {
            long[] e = M[earlier], l = M[later];
            M[later] = [l[0] * e[0] + l[1] * e[2], l[0] * e[1] + l[1] * e[3], l[2] * e[0] + l[3] * e[2], l[2] * e[1] + l[3] * e[3]];
        }
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Sum_MatchesFold(int length)
    {
        var rng = new Random(length);
        long[] items = Enumerable.Range(0, length).Select(_ => (long)rng.Next(-1000, 1000)).ToArray();
        long[] expected = new long[length];
        for (int i = 0; i < length; i++) expected[i] = (i > 0 ? expected[i - 1] : 0) + items[i];
        var op = new SumOperator { Items = items };
        TreeScan.InclusiveScan(length, ref op, threads: 2);
        Assert.Equal(expected, items);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Concatenation_KeepsOrder_AndSpansAreExact(int length)
    {
        string[] items = Enumerable.Range(0, length).Select(i => ((char)('a' + i % 26)).ToString()).ToArray();
        string[] expected = new string[length];
        for (int i = 0; i < length; i++) expected[i] = (i > 0 ? expected[i - 1] : "") + items[i];
        var op = new ConcatOperator { Items = items, Spans = Enumerable.Repeat(1, length).ToArray() };
        TreeScan.InclusiveScan(length, ref op, threads: 1);
        Assert.Equal(expected, items);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void TimeVaryingAffine_MatchesSequentialRecurrence(int length)
    {
        var rng = new Random(7 + length);
        double[] a = Enumerable.Range(0, length).Select(_ => rng.NextDouble() * 1.8 - 0.9).ToArray();
        double[] b = Enumerable.Range(0, length).Select(_ => rng.NextDouble() - 0.5).ToArray();
        double[] expected = new double[length];
        double x = 0;
        for (int i = 0; i < length; i++) expected[i] = x = a[i] * x + b[i];
        var op = new AffineOperator { A = a, B = b };
        TreeScan.InclusiveScan(length, ref op, threads: 2);
        for (int i = 0; i < length; i++) Assert.Equal(expected[i], b[i], 1e-12);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void MatrixProduct_IsOrderedAndThreadIndependent(int length)
    {
        long[][] Make()
        {
            var rng = new Random(3 * length + 1);
            return Enumerable.Range(0, length).Select(_ => new long[] { rng.Next(-1, 2), rng.Next(-1, 2), rng.Next(-1, 2), rng.Next(-1, 2) }).ToArray();
        }
        long[][] items = Make();
        var expected = new long[length][];
        for (int i = 0; i < length; i++)
        {
            long[] l = items[i];
            if (i == 0) { expected[i] = l; continue; }
            long[] e = expected[i - 1];
            expected[i] = [l[0] * e[0] + l[1] * e[2], l[0] * e[1] + l[1] * e[3], l[2] * e[0] + l[3] * e[2], l[2] * e[1] + l[3] * e[3]];
        }
        var one = new MatrixOperator { M = Make() };
        TreeScan.InclusiveScan(length, ref one, threads: 1);
        var two = new MatrixOperator { M = Make() };
        TreeScan.InclusiveScan(length, ref two, threads: 2);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(expected[i], one.M[i]);
            Assert.Equal(expected[i], two.M[i]);
        }
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var op = new SumOperator { Items = [] };
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => TreeScan.InclusiveScan(-1, ref op)).ParamName);
        Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(() => TreeScan.InclusiveScan(0, ref op, 0)).ParamName);
    }
}

/// <summary>The tree scan on one and on two threads (really two: <see cref="TwoThreads"/>), apart from other tests so the worker pool is free.</summary>
[Collection(nameof(ThreadCountSetting))]
public class TreeScanThreadCountTests
{
    [Fact]
    public void LongAffineScan_IsBitIdentical_ForOneAndTwoThreads()
    {
        // 2^17 + 3 steps: the first levels have tens of thousands of combines, enough for the helper to take some.
        const int length = (1 << 17) + 3;
        (double[] A, double[] B) Make()
        {
            var rng = new Random(5);
            return (Enumerable.Range(0, length).Select(_ => rng.NextDouble() * 1.8 - 0.9).ToArray(),
                Enumerable.Range(0, length).Select(_ => rng.NextDouble() - 0.5).ToArray());
        }
        (double[] A, double[] B) Scan(int threads)
        {
            var (a, b) = Make();
            var op = new TreeScanTests.AffineOperator { A = a, B = b };
            TreeScan.InclusiveScan(length, ref op, threads);
            return (a, b);
        }
        var one = Scan(1);
        TwoThreads.Prove(() => Scan(2), two =>
        {
            Assert.Equal(one.B, two.B);
            Assert.Equal(one.A, two.A);
        }, "tree scan");
    }
}
