using System.Numerics;

namespace Lru.Tensors;

/// <summary>
/// The op(B) of many products <c>C = A·op(B)</c> packed once, for a caller that multiplies many small row blocks of A by
/// the same B on one thread each (the LRU layer's fused passes, which keep each block in L2 between a product and the
/// scan). The packing, k blocking and kernel are those <see cref="Gemm.Multiply{T}(ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int, int, bool, bool, bool, int?)"/>
/// uses, so every element of C is computed by the same operations in the same order: the result is bit-identical to
/// one <c>Gemm.Multiply</c> over all rows, whatever the row blocks.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal sealed unsafe class PackedGemmB<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _array;
    private readonly T* _data;
    private readonly GemmKernelKind _kernel;

    /// <summary>Space for a k × n op(B) (packed by <see cref="Pack"/>).</summary>
    /// <param name="k">Rows of op(B), the depth of the product.</param>
    /// <param name="n">Columns of op(B) and of C.</param>
    /// <param name="kernel">The kernel family (<see cref="GemmKernelKind.Auto"/>: the one <c>Gemm.Multiply</c> picks).</param>
    /// <exception cref="ArgumentOutOfRangeException">k or n is less than 1, or the product is too large to pack whole (see <see cref="Fits"/>).</exception>
    public PackedGemmB(int k, int n, GemmKernelKind kernel = GemmKernelKind.Auto)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        _kernel = Gemm.ResolveKernel<T>(kernel);
        if (!Fits(k, n, _kernel))
            throw new ArgumentOutOfRangeException(nameof(n), n, $"op(B) of {k} × {n} is larger than the GEMM packs at once.");
        K = k;
        N = n;
        long length = _kernel switch
        {
            GemmKernelKind.Avx512 => GemmDriver<T, GemmAvx512Kernel<T>>.PackedLength(n, k),
            GemmKernelKind.Avx2 => GemmDriver<T, GemmAvx2Kernel<T>>.PackedLength(n, k),
            _ => GemmDriver<T, GemmPortableKernel<T>>.PackedLength(n, k),
        };
        _array = GC.AllocateUninitializedArray<T>(checked((int)length + 64 / sizeof(T)), pinned: true);
        _data = GemmBuffers<T>.Align(_array);
    }

    /// <summary>Rows of op(B).</summary>
    public int K { get; }

    /// <summary>Columns of op(B).</summary>
    public int N { get; }

    /// <summary>Whether a k × n op(B) is packed as one block by the GEMM (only such a B can be packed ahead).</summary>
    public static bool Fits(int k, int n, GemmKernelKind kernel = GemmKernelKind.Auto) => Gemm.ResolveKernel<T>(kernel) switch
    {
        GemmKernelKind.Avx512 => GemmDriver<T, GemmAvx512Kernel<T>>.PacksWhole(n, k),
        GemmKernelKind.Avx2 => GemmDriver<T, GemmAvx2Kernel<T>>.PacksWhole(n, k),
        _ => GemmDriver<T, GemmPortableKernel<T>>.PacksWhole(n, k),
    };

    /// <summary>Packs op(B): B stored k × n, or n × k when <paramref name="transposeB"/>, dense.</summary>
    /// <exception cref="ArgumentException"><paramref name="b"/> is not K·N long.</exception>
    public void Pack(ReadOnlySpan<T> b, bool transposeB)
    {
        Guard.Length(b.Length, nameof(b), "k, n", K, N);
        fixed (T* pb = b)
        {
            nint ldb = transposeB ? K : N;
            switch (_kernel)
            {
                case GemmKernelKind.Avx512: GemmDriver<T, GemmAvx512Kernel<T>>.PackWhole(pb, ldb, transposeB, N, K, _data); break;
                case GemmKernelKind.Avx2: GemmDriver<T, GemmAvx2Kernel<T>>.PackWhole(pb, ldb, transposeB, N, K, _data); break;
                default: GemmDriver<T, GemmPortableKernel<T>>.PackWhole(pb, ldb, transposeB, N, K, _data); break;
            }
        }
    }

    /// <summary>
    /// <c>C = A·op(B)</c>, or <c>C += A·op(B)</c> when <paramref name="accumulate"/>, on the calling thread: A is m × K with
    /// row stride <paramref name="lda"/>, C is m × N with row stride <paramref name="ldc"/>. The caller keeps the pointers
    /// valid and C clear of A (no checks: this is the inner loop of a checked caller).
    /// </summary>
    public void Multiply(T* a, nint lda, T* c, nint ldc, int m, bool accumulate)
    {
        if (m <= 0) return;
        switch (_kernel)
        {
            case GemmKernelKind.Avx512: GemmDriver<T, GemmAvx512Kernel<T>>.RunPacked(a, lda, _data, c, ldc, m, N, K, accumulate); break;
            case GemmKernelKind.Avx2: GemmDriver<T, GemmAvx2Kernel<T>>.RunPacked(a, lda, _data, c, ldc, m, N, K, accumulate); break;
            default: GemmDriver<T, GemmPortableKernel<T>>.RunPacked(a, lda, _data, c, ldc, m, N, K, accumulate); break;
        }
    }
}
