using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lru.Tensors.Simd;

namespace Lru.Tensors;

/// <summary>How a micro-kernel combines its accumulated tile with the existing contents of C.</summary>
internal enum GemmStoreMode
{
    /// <summary>C = acc (C is never read, so NaN/garbage in C is ignored).</summary>
    Overwrite = 0,

    /// <summary>C = C + acc.</summary>
    Accumulate = 1,

    /// <summary>C = beta·C + acc.</summary>
    Scale = 2,
}

/// <summary>Which micro-kernel family runs the GEMM.</summary>
internal enum GemmKernelKind
{
    /// <summary>The fastest kernel the hardware supports.</summary>
    Auto = 0,

    /// <summary>Vector512 + FMA, 12 × (2·Vector512&lt;T&gt;.Count) tiles.</summary>
    Avx512 = 1,

    /// <summary>Vector256 + FMA, 6 × (2·Vector256&lt;T&gt;.Count) tiles.</summary>
    Avx2 = 2,

    /// <summary>Vector128 with multiply-add (fused where the hardware has it), 6 × (2·Vector128&lt;T&gt;.Count) tiles.</summary>
    Portable = 3,
}

/// <summary>
/// Layout of a packed MR×kc sliver of op(A). The micro-kernel reads element (r, p) at
/// <c>a + r·RowStride + p·Step</c>; both are JIT-time constants.
/// </summary>
internal interface IGemmPanelLayout
{
    /// <summary>Distance (elements) between consecutive rows of the sliver.</summary>
    static abstract nint RowStride(int mr);

    /// <summary>Distance (elements) between consecutive k-steps of the sliver.</summary>
    static abstract nint Step(int mr);
}

/// <summary>
/// Row layout: each of the MR rows is a contiguous run of kc elements, rows <see cref="GemmPlan.PanelStride"/> apart.
/// Packing a non-transposed (row-major m×k) A is then a straight row copy.
/// </summary>
internal struct GemmRowPanel : IGemmPanelLayout
{
    public static nint RowStride(int mr) => GemmPlan.PanelStride;
    public static nint Step(int mr) => 1;
}

/// <summary>
/// Column layout: for each k-step the MR values are contiguous. Packing a transposed
/// (stored k×m) A is then a straight copy of MR contiguous values per k-step.
/// </summary>
internal struct GemmColPanel : IGemmPanelLayout
{
    public static nint RowStride(int mr) => 1;
    public static nint Step(int mr) => mr;
}

/// <summary>Blocking constants shared by every kernel.</summary>
internal static class GemmPlan
{
    /// <summary>
    /// Largest k-block (KC). k is split into equal blocks of at most this size. A KC×NR sliver of
    /// packed B is then at most 64 KiB (L2-resident, reused by every MR-row tile of the block) and the
    /// C tile is re-read once per KC block only. Tuned on Zen 4: 512 beat 256/384/768 by a few percent.
    /// </summary>
    public const int MaxKc = 512;

    /// <summary>Row stride of a <see cref="GemmRowPanel"/> sliver: MaxKc plus one cache line so the MR rows do not alias in L1.</summary>
    public const int PanelStride = MaxKc + 16;

    /// <summary>The k-block size for a product of depth k: k split into equal blocks of at most <see cref="MaxKc"/>.</summary>
    public static int Kc(int k)
    {
        int blocks = Math.Max(1, (k + MaxKc - 1) / MaxKc);
        return (k + blocks - 1) / blocks;
    }
}

/// <summary>A register-tiled micro-kernel computing an MR×NR tile of C from packed slivers.</summary>
internal unsafe interface IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Rows of the register tile.</summary>
    static abstract int MR { get; }

    /// <summary>Columns of the register tile.</summary>
    static abstract int NR { get; }

    /// <summary>Whether this kernel runs natively on the current hardware.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>
    /// C[MR×NR] (row stride <paramref name="ldc"/>) ⊕= Σ_p A[:, p] ⊗ B[p, :] over <paramref name="kc"/> steps,
    /// where <paramref name="a"/> is a packed sliver in layout <typeparamref name="TL"/> and
    /// <paramref name="b"/> a packed kc×NR sliver (NR contiguous per step).
    /// </summary>
    static abstract void Run<TL>(int kc, T* a, T* b, T* c, nint ldc, GemmStoreMode mode, T beta)
        where TL : struct, IGemmPanelLayout;
}

/// <summary>AVX-512 micro-kernel: 12 rows × 2 zmm columns (12×32 floats, 12×16 doubles), 24 accumulators.</summary>
internal unsafe struct GemmAvx512Kernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 12;
    public static int NR => 2 * Vector512<T>.Count;
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(T* c, Vector512<T> v0, Vector512<T> v1, GemmStoreMode mode, Vector512<T> vb)
    {
        T* c1 = c + Vector512<T>.Count;
        if (mode == GemmStoreMode.Overwrite)
        {
            v0.Store(c);
            v1.Store(c1);
        }
        else if (mode == GemmStoreMode.Accumulate)
        {
            (Vector512.Load(c) + v0).Store(c);
            (Vector512.Load(c1) + v1).Store(c1);
        }
        else
        {
            Fma(vb, Vector512.Load(c), v0).Store(c);
            Fma(vb, Vector512.Load(c1), v1).Store(c1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TL>(int kc, T* a, T* b, T* c, nint ldc, GemmStoreMode mode, T beta)
        where TL : struct, IGemmPanelLayout
    {
        nint rs = TL.RowStride(12);
        nint step = TL.Step(12);
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<T> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<T> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<T> c60 = default, c61 = default, c70 = default, c71 = default;
        Vector512<T> c80 = default, c81 = default, c90 = default, c91 = default;
        Vector512<T> ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b);
            Vector512<T> b1 = Vector512.Load(b + w);
            Vector512<T> x;
            x = Vector512.Create(a[0 * rs]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[1 * rs]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2 * rs]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3 * rs]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4 * rs]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5 * rs]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector512.Create(a[6 * rs]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector512.Create(a[7 * rs]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
            x = Vector512.Create(a[8 * rs]); c80 = Fma(x, b0, c80); c81 = Fma(x, b1, c81);
            x = Vector512.Create(a[9 * rs]); c90 = Fma(x, b0, c90); c91 = Fma(x, b1, c91);
            x = Vector512.Create(a[10 * rs]); ca0 = Fma(x, b0, ca0); ca1 = Fma(x, b1, ca1);
            x = Vector512.Create(a[11 * rs]); cb0 = Fma(x, b0, cb0); cb1 = Fma(x, b1, cb1);
            a += step;
            b += 2 * w;
        }

        Vector512<T> vb = Vector512.Create(beta);
        Store(c, c00, c01, mode, vb); c += ldc;
        Store(c, c10, c11, mode, vb); c += ldc;
        Store(c, c20, c21, mode, vb); c += ldc;
        Store(c, c30, c31, mode, vb); c += ldc;
        Store(c, c40, c41, mode, vb); c += ldc;
        Store(c, c50, c51, mode, vb); c += ldc;
        Store(c, c60, c61, mode, vb); c += ldc;
        Store(c, c70, c71, mode, vb); c += ldc;
        Store(c, c80, c81, mode, vb); c += ldc;
        Store(c, c90, c91, mode, vb); c += ldc;
        Store(c, ca0, ca1, mode, vb); c += ldc;
        Store(c, cb0, cb1, mode, vb);
    }
}

/// <summary>AVX2 micro-kernel: 6 rows × 2 ymm columns (6×16 floats, 6×8 doubles), 12 accumulators.</summary>
internal unsafe struct GemmAvx2Kernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 6;
    public static int NR => 2 * Vector256<T>.Count;
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(T* c, Vector256<T> v0, Vector256<T> v1, GemmStoreMode mode, Vector256<T> vb)
    {
        T* c1 = c + Vector256<T>.Count;
        if (mode == GemmStoreMode.Overwrite)
        {
            v0.Store(c);
            v1.Store(c1);
        }
        else if (mode == GemmStoreMode.Accumulate)
        {
            (Vector256.Load(c) + v0).Store(c);
            (Vector256.Load(c1) + v1).Store(c1);
        }
        else
        {
            Fma(vb, Vector256.Load(c), v0).Store(c);
            Fma(vb, Vector256.Load(c1), v1).Store(c1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TL>(int kc, T* a, T* b, T* c, nint ldc, GemmStoreMode mode, T beta)
        where TL : struct, IGemmPanelLayout
    {
        nint rs = TL.RowStride(6);
        nint step = TL.Step(6);
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<T> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<T> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> b0 = Vector256.Load(b);
            Vector256<T> b1 = Vector256.Load(b + w);
            Vector256<T> x;
            x = Vector256.Create(a[0 * rs]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(a[1 * rs]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(a[2 * rs]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(a[3 * rs]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(a[4 * rs]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(a[5 * rs]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            a += step;
            b += 2 * w;
        }

        Vector256<T> vb = Vector256.Create(beta);
        Store(c, c00, c01, mode, vb); c += ldc;
        Store(c, c10, c11, mode, vb); c += ldc;
        Store(c, c20, c21, mode, vb); c += ldc;
        Store(c, c30, c31, mode, vb); c += ldc;
        Store(c, c40, c41, mode, vb); c += ldc;
        Store(c, c50, c51, mode, vb);
    }
}

/// <summary>
/// Portable micro-kernel: 6 rows × 2 Vector128 columns using multiply-add (a fused FMA on
/// hardware that has one, e.g. ARM64 AdvSimd; a separate multiply and add elsewhere).
/// </summary>
internal unsafe struct GemmPortableKernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 6;
    public static int NR => 2 * Vector128<T>.Count;
    public static bool IsSupported => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<T> Fma(Vector128<T> x, Vector128<T> y, Vector128<T> z) => Simd.MultiplyAdd(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(T* c, Vector128<T> v0, Vector128<T> v1, GemmStoreMode mode, Vector128<T> vb)
    {
        T* c1 = c + Vector128<T>.Count;
        if (mode == GemmStoreMode.Overwrite)
        {
            v0.Store(c);
            v1.Store(c1);
        }
        else if (mode == GemmStoreMode.Accumulate)
        {
            (Vector128.Load(c) + v0).Store(c);
            (Vector128.Load(c1) + v1).Store(c1);
        }
        else
        {
            Fma(vb, Vector128.Load(c), v0).Store(c);
            Fma(vb, Vector128.Load(c1), v1).Store(c1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TL>(int kc, T* a, T* b, T* c, nint ldc, GemmStoreMode mode, T beta)
        where TL : struct, IGemmPanelLayout
    {
        nint rs = TL.RowStride(6);
        nint step = TL.Step(6);
        int w = Vector128<T>.Count;
        Vector128<T> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector128<T> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector128<T> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector128<T> b0 = Vector128.Load(b);
            Vector128<T> b1 = Vector128.Load(b + w);
            Vector128<T> x;
            x = Vector128.Create(a[0 * rs]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector128.Create(a[1 * rs]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector128.Create(a[2 * rs]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector128.Create(a[3 * rs]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector128.Create(a[4 * rs]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector128.Create(a[5 * rs]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            a += step;
            b += 2 * w;
        }

        Vector128<T> vb = Vector128.Create(beta);
        Store(c, c00, c01, mode, vb); c += ldc;
        Store(c, c10, c11, mode, vb); c += ldc;
        Store(c, c20, c21, mode, vb); c += ldc;
        Store(c, c30, c31, mode, vb); c += ldc;
        Store(c, c40, c41, mode, vb); c += ldc;
        Store(c, c50, c51, mode, vb);
    }
}
