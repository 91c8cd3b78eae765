using System.Numerics;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Tensors;

/// <summary>
/// Correctness of <see cref="Gemm"/> against a naive triple loop accumulated in double.
/// Tolerance: every output element is a sum of k products, each rounded in T, with partial sums
/// also rounded in T, so |computed − exact| ≤ γ·Σ_p |a_ip|·|b_pj| for γ ≈ k·ε. We check
/// |computed − exact| ≤ tol·(Σ_p |alpha·a_ip·b_pj| + |beta·c_ij|) with tol = 1e-5 for float
/// (ε = 6e-8, and the blocked FMA summation keeps the error far below k·ε for these k) and
/// 1e-13 for double (ε = 1.1e-16).
/// </summary>
public class GemmTests
{
    private static readonly GemmKernelKind[] s_kernels = AvailableKernels();

    private static GemmKernelKind[] AvailableKernels()
    {
        var list = new List<GemmKernelKind> { GemmKernelKind.Auto, GemmKernelKind.Portable };
        if (GemmAvx512Kernel<float>.IsSupported) list.Add(GemmKernelKind.Avx512);
        if (GemmAvx2Kernel<float>.IsSupported) list.Add(GemmKernelKind.Avx2);
        return list.ToArray();
    }

    internal static T[] Random<T>(Random rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[length];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateTruncating(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Runs one case and compares with the double-precision reference, element by element.</summary>
    private static void Check<T>(
        int m, int n, int k, bool ta, bool tb, int padA, int padB, int padC,
        double alpha, double beta, GemmKernelKind kernel, int seed, int? threads = 1, bool nanInC = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        int lda = (ta ? m : k) + padA, ldb = (tb ? k : n) + padB, ldc = n + padC;
        int aRows = ta ? k : m, bRows = tb ? n : k;
        T[] a = Random<T>(rng, Math.Max(0, aRows * lda));
        T[] b = Random<T>(rng, Math.Max(0, bRows * ldb));
        T[] c = Random<T>(rng, Math.Max(0, m * ldc));
        if (nanInC) Array.Fill(c, T.NaN);
        T[] c0 = (T[])c.Clone();

        Gemm.MultiplyCore<T>(a, lda, ta, b, ldb, tb, c, ldc, m, n, k,
            T.CreateTruncating(alpha), T.CreateTruncating(beta), threads, kernel);

        double tol = typeof(T) == typeof(float) ? 1e-5 : 1e-13;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, scale = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = double.CreateTruncating(ta ? a[p * lda + i] : a[i * lda + p]);
                    double bv = double.CreateTruncating(tb ? b[j * ldb + p] : b[p * ldb + j]);
                    sum += av * bv;
                    scale += Math.Abs(av * bv);
                }

                double cOld = double.CreateTruncating(c0[i * ldc + j]);
                double expected = alpha * sum;
                if (beta != 0) expected += beta * cOld;
                double bound = tol * (Math.Abs(alpha) * scale + (beta != 0 ? Math.Abs(beta * cOld) : 0)) + 1e-30;
                double actual = double.CreateTruncating(c[i * ldc + j]);
                Assert.True(Math.Abs(actual - expected) <= bound,
                    $"{typeof(T).Name} {kernel} m={m} n={n} k={k} ta={ta} tb={tb}: C[{i},{j}] = {actual}, expected {expected} (bound {bound})");
            }

            // Padding columns of C must be untouched.
            for (int j = n; j < ldc; j++)
                Assert.Equal(c0[i * ldc + j], c[i * ldc + j]);
        }
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 2, 3, 5 }, { 13, 37, 29 }, { 1, 300, 7 }, { 257, 3, 129 }, { 12, 32, 16 },
        { 31, 17, 11 }, { 7, 1, 400 }, { 25, 65, 3 }, { 37, 97, 401 },
    };

    /// <summary>
    /// Aᵀ·b into one column of C (a weight gradient of a one-feature linear layer) takes its own path with the default
    /// kernel choice: against the reference for outputs in whole groups of four vectors, single vectors and a scalar
    /// tail, both storages of b, padded strides, α and β, and β = 0 over NaN.
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 700)]
    [InlineData(64, 39_200)]
    [InlineData(77, 300)]
    [InlineData(200, 3)]
    public void OneColumn_TransposedA_MatchesTheReference(int m, int k)
    {
        foreach (bool tb in new[] { false, true })
        {
            Check<float>(m, 1, k, true, tb, 0, 0, 0, 1, 0, GemmKernelKind.Auto, seed: m + k, threads: 2);
            Check<double>(m, 1, k, true, tb, 3, 2, 4, -0.5, 1.25, GemmKernelKind.Auto, seed: m + 2 * k, threads: 2);
            Check<float>(m, 1, k, true, tb, 1, 1, 2, 2, 0, GemmKernelKind.Auto, seed: m + 3 * k, nanInC: true);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float_AllTransposes_AllKernels(int m, int n, int k)
    {
        foreach (GemmKernelKind kernel in s_kernels)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    Check<float>(m, n, k, ta, tb, 0, 0, 0, 1, 0, kernel, seed: m * 7919 + n * 31 + k);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Double_AllTransposes_AllKernels(int m, int n, int k)
    {
        foreach (GemmKernelKind kernel in s_kernels)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    Check<double>(m, n, k, ta, tb, 0, 0, 0, 1, 0, kernel, seed: m * 7919 + n * 31 + k);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Float_LargeShape_CrossesCacheBlocks(bool ta, bool tb)
        => Check<float>(300, 260, 600, ta, tb, 0, 0, 0, 1, 0, GemmKernelKind.Auto, seed: 5, threads: 2);

    [Fact]
    public void Double_LargeShape_CrossesCacheBlocks()
        => Check<double>(300, 260, 600, false, true, 0, 0, 0, 1, 0, GemmKernelKind.Auto, seed: 6, threads: 2);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void WideB_IsPackedInSeveralColumnBlocks(bool ta, bool tb)
    {
        // Packed op(B) is capped at 8 MiB, so these k·n need two NC blocks.
        Check<float>(5, 2100, 1000, ta, tb, 0, 0, 3, 1, 1, GemmKernelKind.Auto, seed: 41, threads: 2);
        Check<double>(3, 1100, 1000, ta, tb, 0, 0, 0, 0.5, 0, GemmKernelKind.Auto, seed: 42, threads: 2);
    }

    [Fact]
    public void HugeK_IsPackedInSeveralRowBlocks()
    {
        // k·NR above the 8 MiB packed-B cap: op(B) is packed a whole number of KC blocks at a time.
        Check<float>(2, 3, 70_000, false, false, 0, 0, 0, 1, 0.5, GemmKernelKind.Auto, seed: 43, threads: 2);
        Check<double>(3, 2, 70_000, true, true, 0, 0, 0, 1, 0, GemmKernelKind.Auto, seed: 44, threads: 2);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void PaddedStrides_AlphaBeta(bool ta, bool tb)
    {
        foreach (GemmKernelKind kernel in s_kernels)
        {
            Check<float>(29, 45, 33, ta, tb, 3, 5, 7, 0.75, -1.5, kernel, seed: 11);
            Check<double>(29, 45, 33, ta, tb, 1, 2, 3, -2.0, 0.5, kernel, seed: 12);
            Check<float>(40, 70, 19, ta, tb, 2, 0, 1, 1, 1, kernel, seed: 13);
        }
    }

    /// <summary>
    /// The unpacked path for a small C over a long k (weight gradients, <see cref="GemmSmallOutput{T}"/>): whole tiles and
    /// the edges the packed driver adds (m and n off the tile grid), padded strides, overwriting (NaN in C ignored) and
    /// accumulating, float and double, against the double reference; one and two threads give the same bits.
    /// </summary>
    [Theory]
    [InlineData(64, 64, 5000)]
    [InlineData(13, 37, 300)]
    [InlineData(64, 128, 1537)]
    [InlineData(200, 70, 700)]
    [InlineData(128, 512, 1100)]
    [InlineData(509, 130, 900)]
    public void SmallOutputLongK_MatchesTheReference_AndIsThreadCountIndependent(int m, int n, int k)
    {
        Assert.True(GemmSmallOutput<float>.Applies(true, false, m, n, k, 1f, 0f) || !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated);
        foreach (double beta in new[] { 0.0, 1.0 })
        {
            Check<float>(m, n, k, true, false, 3, 5, 7, 1, beta, GemmKernelKind.Auto, seed: m + n + k, threads: 2, nanInC: beta == 0);
            Check<double>(m, n, k, true, false, 0, 2, 1, 1, beta, GemmKernelKind.Auto, seed: m + n + k + 1, threads: 2, nanInC: beta == 0);
        }
        var rng = new Random(m * n);
        float[] a = Random<float>(rng, k * m), b = Random<float>(rng, k * n), one = Random<float>(rng, m * n), two = (float[])one.Clone();
        Gemm.Multiply<float>(a, b, one, m, n, k, transposeA: true, accumulate: true, threads: 1);
        Gemm.Multiply<float>(a, b, two, m, n, k, transposeA: true, accumulate: true, threads: 2);
        Assert.Equal(one, two);
    }

    [Fact]
    public void BetaZero_IgnoresNaNInC()
    {
        foreach (GemmKernelKind kernel in s_kernels)
        {
            Check<float>(27, 50, 21, false, false, 0, 0, 4, 1, 0, kernel, seed: 21, nanInC: true);
            Check<double>(27, 50, 21, true, true, 0, 0, 4, 2, 0, kernel, seed: 22, nanInC: true);
        }

        // Also with k = 0 and with alpha = 0: C = 0·C must clear NaN.
        float[] c = [float.NaN, float.NaN, float.NaN, float.NaN];
        Gemm.Multiply<float>([], 0, false, [], 2, false, c, 2, 2, 2, 0, 1f, 0f);
        Assert.All(c, v => Assert.Equal(0f, v));
        c = [float.NaN, float.NaN, float.NaN, float.NaN];
        Gemm.Multiply<float>([1, 2, 3, 4], 2, false, [1, 2, 3, 4], 2, false, c, 2, 2, 2, 2, 0f, 0f);
        Assert.All(c, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void BetaOne_Accumulates()
    {
        var rng = new Random(3);
        int m = 45, n = 70, k = 50;
        float[] a = Random<float>(rng, m * k), b = Random<float>(rng, k * n);
        float[] once = new float[m * n], twice = new float[m * n];
        Gemm.Multiply<float>(a, b, once, m, n, k);
        Gemm.Multiply<float>(a, b, twice, m, n, k);
        Gemm.Multiply<float>(a, b, twice, m, n, k, accumulate: true);
        for (int i = 0; i < once.Length; i++)
            Assert.Equal(2 * once[i], twice[i], 1e-5f * (1 + Math.Abs(once[i])));
    }

    [Fact]
    public void KZero_ScalesC()
    {
        double[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Multiply<double>([], 0, false, [], 3, false, c, 3, 2, 3, 0, 1.0, 0.5);
        Assert.Equal([0.5, 1, 1.5, 2, 2.5, 3], c);
        Gemm.Multiply<double>([], [], c, 2, 3, 0, accumulate: true);
        Assert.Equal([0.5, 1, 1.5, 2, 2.5, 3], c);
        Gemm.Multiply<double>([], [], c, 2, 3, 0);
        Assert.All(c, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void EmptyOutput_IsNoOp()
    {
        float[] c = [7f];
        Gemm.Multiply<float>([], new float[15], c.AsSpan(0, 0), 0, 5, 3);
        Gemm.Multiply<float>(new float[12], [], c.AsSpan(0, 0), 4, 0, 3);
        Assert.Equal(7f, c[0]);
    }

    [Fact]
    public void ConvenienceOverload_MatchesKnownProduct()
    {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        float[] a = [1, 2, 3, 4, 5, 6], b = [7, 8, 9, 10, 11, 12], c = new float[4];
        Gemm.Multiply<float>(a, b, c, 2, 2, 3);
        Assert.Equal([58f, 64f, 139f, 154f], c);

        // Aᵀ stored 3×2 and Bᵀ stored 2×3 give the same product.
        float[] at = [1, 4, 2, 5, 3, 6], bt = [7, 9, 11, 8, 10, 12];
        Array.Clear(c);
        Gemm.Multiply<float>(at, bt, c, 2, 2, 3, transposeA: true, transposeB: true);
        Assert.Equal([58f, 64f, 139f, 154f], c);
    }

    [Fact]
    public void UnsupportedType_Throws()
    {
        Half[] x = new Half[4];
        Assert.Throws<NotSupportedException>(() => Gemm.Multiply<Half>(x, x, x, 2, 2, 1));
    }

    [Fact]
    public void Validation_NamesTheArgument()
    {
        float[] a = new float[12 * 10], b = new float[10 * 5], c = new float[12 * 5];

        void OutOfRange(string param, Action act) => Assert.Equal(param, Assert.Throws<ArgumentOutOfRangeException>(act).ParamName);
        void Invalid(string param, Action act)
        {
            ArgumentException e = Assert.Throws<ArgumentException>(act);
            Assert.Equal(param, e.ParamName);
        }

        OutOfRange("m", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c, 5, -1, 5, 10, 1, 0));
        OutOfRange("n", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c, 5, 12, -1, 10, 1, 0));
        OutOfRange("k", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c, 5, 12, 5, -1, 1, 0));
        OutOfRange("m", () => Gemm.Multiply<float>(a, b, c, -3, 5, 10));
        OutOfRange("lda", () => Gemm.Multiply<float>(a, 9, false, b, 5, false, c, 5, 12, 5, 10, 1, 0));
        OutOfRange("lda", () => Gemm.Multiply<float>(a, 11, true, b, 5, false, c, 5, 12, 5, 10, 1, 0));
        OutOfRange("ldb", () => Gemm.Multiply<float>(a, 10, false, b, 4, false, c, 5, 12, 5, 10, 1, 0));
        OutOfRange("ldb", () => Gemm.Multiply<float>(a, 10, false, b, 9, true, c, 5, 12, 5, 10, 1, 0));
        OutOfRange("ldc", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c, 4, 12, 5, 10, 1, 0));
        OutOfRange("threads", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c, 5, 12, 5, 10, 1, 0, threads: 0));

        Invalid("a", () => Gemm.Multiply<float>(a.AsSpan(0, 100), 10, false, b, 5, false, c, 5, 12, 5, 10, 1, 0));
        Invalid("b", () => Gemm.Multiply<float>(a, 10, false, b.AsSpan(1), 5, false, c, 5, 12, 5, 10, 1, 0));
        Invalid("c", () => Gemm.Multiply<float>(a, 10, false, b, 5, false, c.AsSpan(0, 59), 5, 12, 5, 10, 1, 0));
        Invalid("a", () => Gemm.Multiply<float>(a, b, c, 12, 5, 11));
        Invalid("a", () => Gemm.Multiply<float>(a, 12, true, b, 5, false, c, 5, 12, 5, 11, 1, 0)); // stored 11×12 needs 132

        // Overlap of C with A or B.
        float[] shared = new float[400];
        Invalid("c", () => Gemm.Multiply<float>(shared.AsSpan(0, 120), 10, false, b, 5, false, shared.AsSpan(100, 60), 5, 12, 5, 10, 1, 0));
        Invalid("c", () => Gemm.Multiply<float>(a, 10, false, shared.AsSpan(0, 50), 5, false, shared.AsSpan(49, 60), 5, 12, 5, 10, 1, 0));

        ArgumentException msg = Assert.Throws<ArgumentException>(() => Gemm.Multiply<float>(a.AsSpan(0, 100), 10, false, b, 5, false, c, 5, 12, 5, 10, 1, 0));
        Assert.Contains("a has length 100 but op(A) 12×10 with lda 10 needs at least 120", msg.Message);
    }
}

/// <summary>GEMM on one, two and three threads (really more than one: <see cref="TwoThreads"/>), apart from other tests so the worker pool is free.</summary>
[Collection(nameof(ThreadCountSetting))]
public class GemmThreadCountTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void ResultIsBitIdenticalForAnyThreadCount(bool ta, bool tb)
    {
        var rng = new Random(99);
        int m = 203, n = 150, k = 700; // > 64³, several row blocks and two k-blocks
        float[] a = GemmTests.Random<float>(rng, m * k), b = GemmTests.Random<float>(rng, k * n);
        float[] c0 = GemmTests.Random<float>(rng, m * n);
        float[] Run(int threads)
        {
            float[] c = (float[])c0.Clone();
            Gemm.Multiply<float>(a, ta ? m : k, ta, b, tb ? k : n, tb, c, n, m, n, k, 1.5f, 0.25f, threads: threads);
            return c;
        }
        float[] c1 = Run(1);
        TwoThreads.Prove(() => Run(2), c2 => Assert.Equal(c1, c2), "row blocks, 2 threads");
        TwoThreads.Prove(() => Run(3), c3 => Assert.Equal(c1, c3), "row blocks, 3 threads");

        // One column of C from Aᵀ·b: outputs split over threads in groups.
        int m3 = 203, k3 = 5000;
        float[] a3 = GemmTests.Random<float>(rng, k3 * m3), b3 = GemmTests.Random<float>(rng, k3);
        float[] e1 = new float[m3];
        Gemm.Multiply<float>(a3, b3, e1, m3, 1, k3, transposeA: true, threads: 1);
        TwoThreads.Prove(() =>
        {
            float[] e2 = new float[m3];
            Gemm.Multiply<float>(a3, b3, e2, m3, 1, k3, transposeA: true, threads: 2);
            return e2;
        }, e2 => Assert.Equal(e1, e2), "one column, 2 threads");

        // Few rows: the split goes over column slivers instead.
        int m2 = 10, n2 = 3000, k2 = 100;
        float[] a2 = GemmTests.Random<float>(rng, m2 * k2), b2 = GemmTests.Random<float>(rng, k2 * n2);
        float[] d1 = new float[m2 * n2];
        Gemm.Multiply<float>(a2, b2, d1, m2, n2, k2, threads: 1);
        TwoThreads.Prove(() =>
        {
            float[] d2 = new float[m2 * n2];
            Gemm.Multiply<float>(a2, b2, d2, m2, n2, k2, threads: 2);
            return d2;
        }, d2 => Assert.Equal(d1, d2), "column slivers, 2 threads");
    }
}

/// <summary>
/// <see cref="PackedGemmB{T}"/> against <see cref="Gemm"/>: the same bits for every kernel family, both storages of B,
/// overwrite and accumulate, and any split of A's rows into blocks (the LRU layer's fused passes rely on it).
/// </summary>
public class PackedGemmBTests
{
    public static IEnumerable<object[]> Cases()
    {
        var kernels = new List<GemmKernelKind> { GemmKernelKind.Portable };
        if (GemmAvx512Kernel<float>.IsSupported) kernels.Add(GemmKernelKind.Avx512);
        if (GemmAvx2Kernel<float>.IsSupported) kernels.Add(GemmKernelKind.Avx2);
        foreach (var kernel in kernels)
            foreach (var (m, n, k) in new[] { (300, 512, 128), (301, 128, 512), (37, 33, 7), (500, 70, 1100), (13, 5, 600) })
                foreach (bool tb in new[] { false, true })
                    yield return [(int)kernel, m, n, k, tb];
    }

    [Theory, MemberData(nameof(Cases))]
    public void Float_RowBlocks_EqualOneGemm(int kernel, int m, int n, int k, bool transposeB) => Check<float>((GemmKernelKind)kernel, m, n, k, transposeB);

    [Theory]
    [InlineData((int)GemmKernelKind.Portable, 200, 100, 300, true)]
    [InlineData((int)GemmKernelKind.Auto, 211, 64, 1100, false)]
    public void Double_RowBlocks_EqualOneGemm(int kernel, int m, int n, int k, bool transposeB) => Check<double>((GemmKernelKind)kernel, m, n, k, transposeB);

    private static unsafe void Check<T>(GemmKernelKind kernel, int m, int n, int k, bool transposeB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(m * 31 + n * 7 + k);
        T[] a = GemmTests.Random<T>(rng, m * k), b = GemmTests.Random<T>(rng, k * n), c0 = GemmTests.Random<T>(rng, m * n);
        int ldb = transposeB ? k : n;
        foreach (bool accumulate in new[] { false, true })
        {
            T[] expected = (T[])c0.Clone(), actual = (T[])c0.Clone();
            Gemm.MultiplyCore<T>(a, k, false, b, ldb, transposeB, expected, n, m, n, k, T.One, accumulate ? T.One : T.Zero, threads: 2, kernel);

            var packed = new PackedGemmB<T>(k, n, kernel);
            packed.Pack(b, transposeB);
            fixed (T* pa = a, pc = actual)
            {
                // Blocks of 1 to 150 rows, in an order that is not the rows' (last block first).
                var blocks = new List<(int Start, int Rows)>();
                for (int start = 0; start < m;)
                {
                    int rows = Math.Min(m - start, 1 + rng.Next(150));
                    blocks.Add((start, rows));
                    start += rows;
                }
                blocks.Reverse();
                foreach (var (start, rows) in blocks)
                    packed.Multiply(pa + (nint)start * k, k, pc + (nint)start * n, n, rows, accumulate);
            }
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void TooLargeAnOperand_IsRefused()
    {
        Assert.False(PackedGemmB<float>.Fits(1 << 14, 1 << 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PackedGemmB<float>(1 << 14, 1 << 12));
        Assert.True(PackedGemmB<float>.Fits(128, 512));
    }
}
