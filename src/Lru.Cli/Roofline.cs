using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace Lru.Cli;

/// <summary>
/// The bounds of the machine of the run, measured, not assumed: FP32 fused multiply-add throughput (the compute roof),
/// main-memory bandwidth (copy and triad, STREAM's conventions) and single-core L2 read bandwidth.
/// </summary>
internal static class Roofline
{
    /// <summary>Independent FMA chains per thread: enough to cover the FMA latency on both pipes of a Zen 4 or Zen 5 core.</summary>
    private const int Chains = 12;

    /// <summary>Iterations of the 12-chain body per measured run and thread (about 8 ms at 240 GFLOP/s per core, long enough that starting the threads does not count).</summary>
    private const int Iterations = 5_000_000;

    /// <summary>The widest vector the FMA probe runs on: 512, 256 or 128 bits (scalar FMA below that).</summary>
    public static int VectorBits => Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>FP32 GFLOP/s of <paramref name="threads"/> threads each running 12 independent FMA chains on the widest vectors (2 flops per lane per FMA).</summary>
    public static double FmaGflops(int threads, double seconds)
    {
        double flopsPerThread = 2.0 * (VectorBits / 32) * Chains * (double)Iterations;
        double best = Measure.BestSeconds(() => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => Sink(FmaChains(t))), seconds);
        return threads * flopsPerThread / best / 1e9;
    }

    private static float s_sink;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Sink(float value) => s_sink = value;

    /// <summary>Twelve accumulators <c>acc = acc·a + b</c> on the widest vectors, summed at the end so that none is dead code.</summary>
    private static float FmaChains(int seed) =>
        Vector512.IsHardwareAccelerated ? FmaChains<Lanes512, Vector512<float>>(seed)
        : Vector256.IsHardwareAccelerated ? FmaChains<Lanes256, Vector256<float>>(seed)
        : FmaChains<Lanes128, Vector128<float>>(seed);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains<TOps, TV>(int seed) where TOps : struct, IVectorOps<TV> where TV : struct
    {
        TV a = TOps.Create(0.999999f), b = TOps.Create(1e-7f * (seed + 1));
        TV c0 = TOps.Create(1f), c1 = TOps.Add(c0, b), c2 = TOps.Add(c1, b), c3 = TOps.Add(c2, b), c4 = TOps.Add(c3, b), c5 = TOps.Add(c4, b),
            c6 = TOps.Add(c5, b), c7 = TOps.Add(c6, b), c8 = TOps.Add(c7, b), c9 = TOps.Add(c8, b), c10 = TOps.Add(c9, b), c11 = TOps.Add(c10, b);
        for (int i = 0; i < Iterations; i++)
        {
            c0 = TOps.Fma(c0, a, b); c1 = TOps.Fma(c1, a, b); c2 = TOps.Fma(c2, a, b); c3 = TOps.Fma(c3, a, b);
            c4 = TOps.Fma(c4, a, b); c5 = TOps.Fma(c5, a, b); c6 = TOps.Fma(c6, a, b); c7 = TOps.Fma(c7, a, b);
            c8 = TOps.Fma(c8, a, b); c9 = TOps.Fma(c9, a, b); c10 = TOps.Fma(c10, a, b); c11 = TOps.Fma(c11, a, b);
        }
        TV sum = TOps.Add(TOps.Add(TOps.Add(TOps.Add(c0, c1), TOps.Add(c2, c3)), TOps.Add(TOps.Add(c4, c5), TOps.Add(c6, c7))), TOps.Add(TOps.Add(c8, c9), TOps.Add(c10, c11)));
        return TOps.Sum(sum);
    }

    /// <summary>The vector operations the FMA probe needs, one implementation per width (generic code, specialised per struct).</summary>
    private interface IVectorOps<TV>
    {
        static abstract TV Create(float value);
        static abstract TV Add(TV x, TV y);
        static abstract TV Fma(TV x, TV y, TV z);
        static abstract float Sum(TV x);
    }

    private struct Lanes512 : IVectorOps<Vector512<float>>
    {
        public static Vector512<float> Create(float value) => Vector512.Create(value);
        public static Vector512<float> Add(Vector512<float> x, Vector512<float> y) => x + y;
        public static Vector512<float> Fma(Vector512<float> x, Vector512<float> y, Vector512<float> z) => Vector512.FusedMultiplyAdd(x, y, z);
        public static float Sum(Vector512<float> x) => Vector512.Sum(x);
    }

    private struct Lanes256 : IVectorOps<Vector256<float>>
    {
        public static Vector256<float> Create(float value) => Vector256.Create(value);
        public static Vector256<float> Add(Vector256<float> x, Vector256<float> y) => x + y;
        public static Vector256<float> Fma(Vector256<float> x, Vector256<float> y, Vector256<float> z) => Vector256.FusedMultiplyAdd(x, y, z);
        public static float Sum(Vector256<float> x) => Vector256.Sum(x);
    }

    private struct Lanes128 : IVectorOps<Vector128<float>>
    {
        public static Vector128<float> Create(float value) => Vector128.Create(value);
        public static Vector128<float> Add(Vector128<float> x, Vector128<float> y) => x + y;
        public static Vector128<float> Fma(Vector128<float> x, Vector128<float> y, Vector128<float> z) => Vector128.FusedMultiplyAdd(x, y, z);
        public static float Sum(Vector128<float> x) => Vector128.Sum(x);
    }

    /// <summary>
    /// Main-memory bandwidth in GB/s over buffers of <paramref name="floats"/> floats each, split over
    /// <paramref name="threads"/>: copy (<c>a ← b</c>, read + write counted) and triad (<c>a ← b + s·c</c>, two reads and a write).
    /// </summary>
    public static (double Copy, double Triad) MemoryGBps(int threads, int floats, double seconds)
    {
        float[] a = new float[floats], b = new float[floats], c = new float[floats];
        Parallel.For(0, threads, t => { var (s, n) = Chunk(floats, threads, t); b.AsSpan(s, n).Fill(1f); c.AsSpan(s, n).Fill(2f); a.AsSpan(s, n).Clear(); });
        double copy = Measure.BestSeconds(() => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var (s, n) = Chunk(floats, threads, t);
            TensorPrimitives.Multiply(b.AsSpan(s, n), 1f, a.AsSpan(s, n)); // a vector loop like the triad's (CopyTo is a memmove with its own store strategy)
        }), seconds);
        double triad = Measure.BestSeconds(() => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var (s, n) = Chunk(floats, threads, t);
            TensorPrimitives.FusedMultiplyAdd(c.AsSpan(s, n), 3f, b.AsSpan(s, n), a.AsSpan(s, n));
        }), seconds);
        double bytes = (double)floats * sizeof(float);
        return (2 * bytes / copy / 1e9, 3 * bytes / triad / 1e9);
    }

    /// <summary>
    /// Single-thread read bandwidth in GB/s of a buffer of <paramref name="bytes"/> bytes that stays in the core's L2, read
    /// 64 times per run by <see cref="ReadSum"/> (eight independent vector accumulators, so additions do not limit it).
    /// </summary>
    public static double CacheReadGBps(int bytes, double seconds)
    {
        var buffer = new float[Math.Max(128, bytes / sizeof(float)) / 128 * 128];
        buffer.AsSpan().Fill(1f);
        const int Repeats = 64;
        float sum = 0;
        double best = Measure.BestSeconds(() =>
        {
            for (int i = 0; i < Repeats; i++) sum += ReadSum(buffer);
        }, seconds);
        Sink(sum);
        return (double)Repeats * buffer.Length * sizeof(float) / best / 1e9;
    }

    /// <summary>Σ buffer with eight accumulators of 512-bit (or 256-bit) vectors; the length is a multiple of 128.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe float ReadSum(float[] buffer)
    {
        fixed (float* p = buffer)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
                for (int i = 0; i < buffer.Length; i += 128)
                {
                    s0 += Vector512.Load(p + i); s1 += Vector512.Load(p + i + 16); s2 += Vector512.Load(p + i + 32); s3 += Vector512.Load(p + i + 48);
                    s4 += Vector512.Load(p + i + 64); s5 += Vector512.Load(p + i + 80); s6 += Vector512.Load(p + i + 96); s7 += Vector512.Load(p + i + 112);
                }
                return Vector512.Sum(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
            }
            Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default, t4 = default, t5 = default, t6 = default, t7 = default;
            for (int i = 0; i < buffer.Length; i += 64)
            {
                t0 += Vector256.Load(p + i); t1 += Vector256.Load(p + i + 8); t2 += Vector256.Load(p + i + 16); t3 += Vector256.Load(p + i + 24);
                t4 += Vector256.Load(p + i + 32); t5 += Vector256.Load(p + i + 40); t6 += Vector256.Load(p + i + 48); t7 += Vector256.Load(p + i + 56);
            }
            return Vector256.Sum(((t0 + t1) + (t2 + t3)) + ((t4 + t5) + (t6 + t7)));
        }
    }

    private static (int Start, int Count) Chunk(int length, int parts, int part)
    {
        long start = (long)length * part / parts, end = (long)length * (part + 1) / parts;
        return ((int)start, (int)(end - start));
    }
}
