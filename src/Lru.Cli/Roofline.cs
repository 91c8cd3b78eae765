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

    /// <summary>Iterations of the 12-chain body per measured run and thread (about 10 ms at 400 GFLOP/s per core).</summary>
    private const int Iterations = 200_000;

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

    /// <summary>Twelve accumulators <c>acc = acc·a + b</c>, summed at the end so that none is dead code.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains(int seed)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(0.999999f);
            var b = Vector512.Create(1e-7f * (seed + 1));
            Vector512<float> c0 = Vector512.Create(1f), c1 = c0 + b, c2 = c1 + b, c3 = c2 + b, c4 = c3 + b, c5 = c4 + b,
                c6 = c5 + b, c7 = c6 + b, c8 = c7 + b, c9 = c8 + b, c10 = c9 + b, c11 = c10 + b;
            for (int i = 0; i < Iterations; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
                c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
                c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
                c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
                c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
                c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
            }
            return Vector512.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)));
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(0.999999f);
            var b = Vector256.Create(1e-7f * (seed + 1));
            Vector256<float> c0 = Vector256.Create(1f), c1 = c0 + b, c2 = c1 + b, c3 = c2 + b, c4 = c3 + b, c5 = c4 + b,
                c6 = c5 + b, c7 = c6 + b, c8 = c7 + b, c9 = c8 + b, c10 = c9 + b, c11 = c10 + b;
            for (int i = 0; i < Iterations; i++)
            {
                c0 = Vector256.FusedMultiplyAdd(c0, a, b); c1 = Vector256.FusedMultiplyAdd(c1, a, b);
                c2 = Vector256.FusedMultiplyAdd(c2, a, b); c3 = Vector256.FusedMultiplyAdd(c3, a, b);
                c4 = Vector256.FusedMultiplyAdd(c4, a, b); c5 = Vector256.FusedMultiplyAdd(c5, a, b);
                c6 = Vector256.FusedMultiplyAdd(c6, a, b); c7 = Vector256.FusedMultiplyAdd(c7, a, b);
                c8 = Vector256.FusedMultiplyAdd(c8, a, b); c9 = Vector256.FusedMultiplyAdd(c9, a, b);
                c10 = Vector256.FusedMultiplyAdd(c10, a, b); c11 = Vector256.FusedMultiplyAdd(c11, a, b);
            }
            return Vector256.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)));
        }
        var a128 = Vector128.Create(0.999999f);
        var b128 = Vector128.Create(1e-7f * (seed + 1));
        Vector128<float> d0 = Vector128.Create(1f), d1 = d0 + b128, d2 = d1 + b128, d3 = d2 + b128, d4 = d3 + b128, d5 = d4 + b128,
            d6 = d5 + b128, d7 = d6 + b128, d8 = d7 + b128, d9 = d8 + b128, d10 = d9 + b128, d11 = d10 + b128;
        for (int i = 0; i < Iterations; i++)
        {
            d0 = Vector128.FusedMultiplyAdd(d0, a128, b128); d1 = Vector128.FusedMultiplyAdd(d1, a128, b128);
            d2 = Vector128.FusedMultiplyAdd(d2, a128, b128); d3 = Vector128.FusedMultiplyAdd(d3, a128, b128);
            d4 = Vector128.FusedMultiplyAdd(d4, a128, b128); d5 = Vector128.FusedMultiplyAdd(d5, a128, b128);
            d6 = Vector128.FusedMultiplyAdd(d6, a128, b128); d7 = Vector128.FusedMultiplyAdd(d7, a128, b128);
            d8 = Vector128.FusedMultiplyAdd(d8, a128, b128); d9 = Vector128.FusedMultiplyAdd(d9, a128, b128);
            d10 = Vector128.FusedMultiplyAdd(d10, a128, b128); d11 = Vector128.FusedMultiplyAdd(d11, a128, b128);
        }
        return Vector128.Sum(((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7)) + ((d8 + d9) + (d10 + d11)));
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
            b.AsSpan(s, n).CopyTo(a.AsSpan(s, n));
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
