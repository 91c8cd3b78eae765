using System.Globalization;
using System.Numerics.Tensors;
using System.Reflection;
using Lru.Layers;
using Lru.Modules;
using Lru.Tensors;
using Lru.Training;

namespace Lru.Benchmarks;

/// <summary>
/// The accuracy half of the hand-written-code audit (docs/architecture.md, "Hand-written code, and why it stays"), printed as text:
/// <c>dotnet run -c Release --project benchmarks/Lru.Benchmarks -- accuracy</c>.
/// </summary>
internal static class HandWrittenAccuracy
{
    public static void Run()
    {
        Parallelism.MaxThreads = 1;
        Erfc();
        SumOfSquares();
        AdamW();
        Glu();
        RowOperations();
        Gelu();
        Normalization();
    }

    // ---- erfc ------------------------------------------------------------------------------------------------------

    private static void Erfc()
    {
        Console.WriteLine("## erfc: relative error against 60-digit mpmath values (erfc_reference.csv)");
        string path = Path.Combine(AppContext.BaseDirectory, "erfc_reference.csv");
        if (!File.Exists(path))
        {
            // 12,000 points of 60-digit values (680 KB): generated, not committed.
            Console.WriteLine("erfc_reference.csv is missing: write it with `/usr/bin/python3 benchmarks/python/erfc_reference.py` (Debian: python3-mpmath), then build again.");
            return;
        }
        var rows = File.ReadLines(path).Skip(1).Select(l => l.Split(',')).Select(p =>
            (Z: double.Parse(p[0], CultureInfo.InvariantCulture), Hi: double.Parse(p[1], CultureInfo.InvariantCulture), Lo: double.Parse(p[2], CultureInfo.InvariantCulture))).ToArray();
        (double From, double To)[] bands = [(-8, 0), (0, 2), (2, 5), (5, 8), (8, 12), (12, 26.5)];
        Console.WriteLine("| z | points | ErrorFunction.Erfc worst | mean | MathNet Erfc worst | mean |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (from, to) in bands)
        {
            var band = rows.Where(r => r.Z >= from && r.Z < to).ToArray();
            (double worstOwn, double meanOwn) = Errors(band, ErrorFunction.Erfc);
            (double worstNet, double meanNet) = Errors(band, MathNet.Numerics.SpecialFunctions.Erfc);
            Console.WriteLine($"| [{from}, {to}) | {band.Length} | {worstOwn:E2} | {meanOwn:E2} | {worstNet:E2} | {meanNet:E2} |");
        }

        static (double Worst, double Mean) Errors((double Z, double Hi, double Lo)[] band, Func<double, double> f)
        {
            double worst = 0, sum = 0;
            foreach (var (z, hi, lo) in band)
            {
                double e = Math.Abs((f(z) - hi) - lo) / hi; // f(z) − hi is exact when f(z) is within a factor 2 of hi
                worst = Math.Max(worst, e);
                sum += e;
            }
            return (worst, sum / band.Length);
        }
    }

    // ---- sum of squares --------------------------------------------------------------------------------------------

    /// <summary>Σ x² of floats in double through the package: blocks widened with ConvertTruncating, then SumOfSquares&lt;double&gt;.</summary>
    public static double SumOfSquaresWidened(ReadOnlySpan<float> x)
    {
        Span<double> block = stackalloc double[1024];
        double sum = 0;
        for (int start = 0; start < x.Length; start += block.Length)
        {
            int n = Math.Min(block.Length, x.Length - start);
            TensorPrimitives.ConvertTruncating<float, double>(x.Slice(start, n), block[..n]);
            sum += TensorPrimitives.SumOfSquares<double>(block[..n]);
        }
        return sum;
    }

    private static void SumOfSquares()
    {
        Console.WriteLine();
        Console.WriteLine("## Global norm of one float gradient: relative error of Σ g² against a compensated (Neumaier) double sum");
        Console.WriteLine("| N | values | former scalar loop (double, 4 sums) | TensorPrimitives.SumOfSquares<float> | widened + SumOfSquares<double> | library GlobalNorm² |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (int n in new[] { 100_000, 1_000_000, 10_000_000 })
        {
            foreach (string kind in new[] { "N(0, 1e-3)", "N(0,1)·e^U(−8,8)" })
            {
                var p = new Parameter<float>("g", n);
                var random = new SeededRandom(n + kind.Length);
                Span<float> g = p.Gradient;
                for (int i = 0; i < n; i++)
                    g[i] = kind.StartsWith("N(0, 1e-3)") ? (float)(1e-3 * random.NextNormal()) : (float)(random.NextNormal() * Math.Exp(16 * random.NextOpenUnit() - 8));
                double exact = Neumaier(g);
                double scalar = HandWrittenSumOfSquaresBenchmarks.SumOfSquaresScalar<float>(g);
                double tp = TensorPrimitives.SumOfSquares<float>(g);
                double widened = SumOfSquaresWidened(g);
                double norm = GradientClipping.GlobalNorm([p]);
                Console.WriteLine($"| {n:N0} | {kind} | {Math.Abs(scalar - exact) / exact:E1} | {Math.Abs(tp - exact) / exact:E1} | {Math.Abs(widened - exact) / exact:E1} | {Math.Abs(norm * norm - exact) / exact:E1} (squared norm: +2 roundings) |");
            }
        }

        static double Neumaier(ReadOnlySpan<float> x)
        {
            double sum = 0, c = 0;
            foreach (float v in x)
            {
                double s = (double)v * v; // exact: a float's square fits in a double
                double t = sum + s;
                c += Math.Abs(sum) >= Math.Abs(s) ? (sum - t) + s : (s - t) + sum;
                sum = t;
            }
            return sum + c;
        }
    }

    // ---- AdamW -----------------------------------------------------------------------------------------------------

    private static void AdamW()
    {
        Console.WriteLine();
        Console.WriteLine("## AdamW: the fused loop (called directly), the library's AdamW.Step and TensorPrimitives passes, 10 steps, bitwise");
        const int rows = 317, cols = 331, n = rows * cols; // an odd count: vector body and scalar tail
        var (p0, g, m0, v0) = AdamWFixture.State(n);
        float[] pF = (float[])p0.Clone(), mF = (float[])m0.Clone(), vF = (float[])v0.Clone();
        float[] pT = (float[])p0.Clone(), mT = (float[])m0.Clone(), vT = (float[])v0.Clone(), scratch = new float[n];
        float[] pB = (float[])p0.Clone(), mB = (float[])m0.Clone(), vB = (float[])v0.Clone();
        var parameter = new Parameter<float>("w", rows, cols);
        parameter.Assign(p0);
        g.CopyTo(parameter.Gradient);
        var optimizer = new AdamW<float>([("w", parameter)], new AdamWSettings { LearningRate = 1e-3, WeightDecay = 0.01 });
        // The library starts from zero moments; give the direct calls the same start.
        Array.Clear(mF); Array.Clear(vF); Array.Clear(mT); Array.Clear(vT); Array.Clear(mB); Array.Clear(vB);
        for (long step = 1; step <= 10; step++)
        {
            var c = AdamWFixture.Coefficients(step);
            AdamWFixture.UpdateFused(pF, g, mF, vF, c, applyDecay: true);
            AdamWFixture.UpdateByTensorPrimitives(pT, g, mT, vT, scratch, c, n);
            AdamWFixture.UpdateByTensorPrimitives(pB, g, mB, vB, scratch, c, 4096);
            optimizer.Step();
        }
        Console.WriteLine($"fused loop vs AdamW.Step: p {Differ(pF, parameter.Value)}, m {Differ(mF, optimizer.FirstMoment("w"))}, v {Differ(vF, optimizer.SecondMoment("w"))} elements differ of {n}");
        Console.WriteLine($"fused loop vs TensorPrimitives passes: p {Differ(pF, pT)}, m {Differ(mF, mT)}, v {Differ(vF, vT)}; blocked: p {Differ(pF, pB)}, m {Differ(mF, mB)}, v {Differ(vF, vB)}");
    }

    private static int Differ(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int count = 0;
        for (int i = 0; i < a.Length; i++) if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) count++;
        return count;
    }

    // ---- Glu -------------------------------------------------------------------------------------------------------

    private static void Glu()
    {
        Console.WriteLine();
        Console.WriteLine("## Glu backward gate: the library (read back from the layer), its kernel called directly, TensorPrimitives passes, bitwise");
        const int batch = 3, length = 700, h = 67; // 140,700 elements: several blocks and a tail
        var glu = new Glu<float>(h, seed: 11);
        var random = new SeededRandom(12);
        float[] x = HandWrittenRowOpsBenchmarks.Fill(batch * length * h, random), y = new float[x.Length];
        float[] dz = HandWrittenRowOpsBenchmarks.Fill(x.Length, random), dx = new float[x.Length];
        glu.Forward(x, y, new SequenceShape(batch, length), training: true);
        glu.Backward(dz, dx, batch, length);
        float[] Field(string name) => (float[])typeof(Glu<float>).GetField(name, BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(glu)!;
        int count = x.Length;
        ReadOnlySpan<float> pairs = Field("_as").AsSpan(0, 2 * count), gradLib = Field("_gradAg").AsSpan(0, 2 * count);
        float[] gradF = new float[2 * count], gradT = new float[2 * count];
        GluFixture.BackwardFused(dz, pairs, gradF, h);
        GluFixture.BackwardByTensorPrimitives(dz, pairs, gradT, h);
        float[] Half(ReadOnlySpan<float> grad, int half)
        {
            var part = new float[count];
            for (int r = 0; r < count / h; r++) grad.Slice((2 * r + half) * h, h).CopyTo(part.AsSpan(r * h, h));
            return part;
        }
        float[] daLib = Half(gradLib, 0), dgLib = Half(gradLib, 1), daF = Half(gradF, 0), dgF = Half(gradF, 1), daT = Half(gradT, 0), dgT = Half(gradT, 1);
        Console.WriteLine($"kernel vs layer: ∂a {Differ(daF, daLib)}, ∂g {Differ(dgF, dgLib)}; TensorPrimitives vs library: ∂a {Differ(daT, daLib)}, ∂g {Differ(dgT, dgLib)} elements differ of {count}");
    }

    // ---- RowOps ----------------------------------------------------------------------------------------------------

    private static void RowOperations()
    {
        Console.WriteLine();
        Console.WriteLine("## RowOps (library) vs one TensorPrimitives call per row and vs the pre-audit loop, bitwise (rows = 1000)");
        Console.WriteLine($"(element 0 of new float arrays of 8192·h elements, address mod 64: {string.Join(", ", new[] { 64, 128, 256, 512 }.Select(h => AddressMod64(new float[8192 * h])))})");
        foreach (int h in new[] { 64, 67, 128, 256, 300 })
        {
            var random = new SeededRandom(h);
            const int rows = 1000;
            float[] x = HandWrittenRowOpsBenchmarks.Fill(rows * h, random), d = HandWrittenRowOpsBenchmarks.Fill(h, random);
            float[] y0 = HandWrittenRowOpsBenchmarks.Fill(rows * h, random);
            float[] yR = (float[])y0.Clone(), yT = (float[])y0.Clone(), accR = new float[h], accT = new float[h];
            RowOps.MultiplyRows<float>(x, d, yR, rows, accumulate: true);
            for (int r = 0; r < rows; r++) TensorPrimitives.MultiplyAdd(x.AsSpan(r * h, h), d, yT.AsSpan(r * h, h), yT.AsSpan(r * h, h));
            RowOps.AccumulateProducts<float>(x, y0, accR, rows);
            for (int r = 0; r < rows; r++) TensorPrimitives.MultiplyAdd(x.AsSpan(r * h, h), y0.AsSpan(r * h, h), accT, accT);
            float[] mR = new float[rows * h], mT = new float[rows * h], mB = new float[rows * h];
            RowOps.MultiplyRows<float>(x, d, mR, rows);
            for (int r = 0; r < rows; r++) TensorPrimitives.Multiply(x.AsSpan(r * h, h), d, mT.AsSpan(r * h, h));
            Tensor.Multiply<float>(new ReadOnlyTensorSpan<float>(x, [rows, h]), new ReadOnlyTensorSpan<float>(d, [1, h]), new TensorSpan<float>(mB, [rows, h]));
            float[] yF = (float[])y0.Clone(), accF = new float[h], mF = new float[rows * h];
            FormerRowOps.MultiplyRows(x, d, mF, rows);
            FormerRowOps.MultiplyAccumulateRows(x, d, yF, rows);
            FormerRowOps.AccumulateProducts(x, y0, accF, rows);
            Console.WriteLine($"h = {h}: y = x·d {Differ(mR, mT)} differ (former loop {Differ(mR, mF)}, broadcast Tensor.Multiply {Differ(mR, mB)}); y += x·d {Differ(yR, yT)} (former loop {Differ(yR, yF)}); acc += Σ a·b {Differ(accR, accT)} (former loop {Differ(accR, accF)})");
        }
    }

    private static unsafe int AddressMod64(float[] a)
    {
        fixed (float* p = a) return (int)((nuint)p & 63);
    }

    // ---- GELU ------------------------------------------------------------------------------------------------------

    /// <summary>GELU tanh form in float with TensorPrimitives: y = ½·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))).</summary>
    public static void GeluTanhByTensorPrimitives(ReadOnlySpan<float> x, Span<float> y)
    {
        const float k = 0.7978845608f, kc = 0.7978845608f * 0.044715f;
        TensorPrimitives.Multiply(x, x, y);
        TensorPrimitives.Multiply(y, kc, y);
        TensorPrimitives.Add(y, k, y);                 // k + k·c·x²
        TensorPrimitives.Multiply(y, x, y);            // u
        TensorPrimitives.Tanh<float>(y, y);
        TensorPrimitives.Add(y, 1f, y);
        TensorPrimitives.Multiply(y, x, y);
        TensorPrimitives.Multiply(y, 0.5f, y);
    }

    private static unsafe void Gelu()
    {
        Console.WriteLine();
        Console.WriteLine("## GELU forward in float on 2^20 points of N(0, 2²): ulps from a double reference rounded to float (exact: erfc form; tanh: x·σ(2u))");
        const int n = 1 << 20;
        var random = new SeededRandom(21);
        float[] x = new float[n], yK = new float[n], yT = new float[n], yM = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(2 * random.NextNormal());
        foreach (bool tanh in new[] { false, true })
        {
            if (GeluKernels.IsSupported)
                fixed (float* px = x, py = yK) GeluKernels.Forward(px, py, null, n, tanh);
            if (tanh) GeluTanhByTensorPrimitives(x, yT);
            else for (int i = 0; i < n; i++) yM[i] = (float)(x[i] * 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-x[i] * 0.70710678118654752440));
            float[] other = tanh ? yT : yM;
            int worstK = 0, worstO = 0, offK = 0, offO = 0, worstOCentral = 0;
            for (int i = 0; i < n; i++)
            {
                float reference = (float)Reference(x[i], tanh);
                int dk = Ulps(yK[i], reference), dOther = Ulps(other[i], reference);
                worstK = Math.Max(worstK, dk); worstO = Math.Max(worstO, dOther);
                if (x[i] >= -3) worstOCentral = Math.Max(worstOCentral, dOther);
                if (dk != 0) offK++;
                if (dOther != 0) offO++;
            }
            string name = tanh ? "TensorPrimitives (float)" : "MathNet erfc per element";
            Console.WriteLine($"{(tanh ? "tanh" : "exact")} form: GeluKernels worst {worstK} ulp, {offK} differ{(GeluKernels.IsSupported ? "" : " (no AVX-512: not run)")}; {name} worst {worstO} ulp ({worstOCentral} ulp for x ≥ −3), {offO} differ");
        }

        // The exact form from the library's double formula (erfc-based, accurate in both tails); the tanh form as
        // x·σ(2u) in double, which does not cancel in the negative tail as ½x(1 + tanh u) does.
        static double Reference(double x, bool tanh)
        {
            if (!tanh) return Lru.Layers.Gelu<double>.Value(x, tanh: false);
            double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
            return x / (1 + Math.Exp(-2 * u));
        }

        static int Ulps(float a, float b)
        {
            if (a == b) return 0;
            int ia = BitConverter.SingleToInt32Bits(a), ib = BitConverter.SingleToInt32Bits(b);
            if (ia < 0) ia = int.MinValue - ia;
            if (ib < 0) ib = int.MinValue - ib;
            return (int)Math.Min(int.MaxValue, Math.Abs((long)ia - ib));
        }
    }

    // ---- LayerNorm, BatchNorm --------------------------------------------------------------------------------------

    private static void Normalization()
    {
        Console.WriteLine();
        Console.WriteLine("## Normalisation forward (8·1024 rows): largest |error| against the same formula in double");
        foreach (int h in new[] { 64, 256 })
        {
            var random = new SeededRandom(31);
            float[] x = HandWrittenRowOpsBenchmarks.Fill(8 * 1024 * h, random);
            for (int i = 0; i < x.Length; i++) x[i] += 3f; // an offset, so the centring matters
            float[] yOwn = new float[x.Length], yTp = new float[x.Length];
            var layerNorm = new LayerNorm<float>(h);
            layerNorm.Forward(x, yOwn, new SequenceShape(8, 1024), training: false);
            NormalizationFixture.LayerNormByTensorPrimitives(x, yTp, layerNorm.Weight.Value, layerNorm.Bias.Value, h, 1e-5f);
            double worstOwn = 0, worstTp = 0;
            for (int r = 0; r < 8 * 1024; r++)
            {
                double mean = 0, sq = 0;
                for (int f = 0; f < h; f++) mean += x[r * h + f];
                mean /= h;
                for (int f = 0; f < h; f++) sq += (x[r * h + f] - mean) * (x[r * h + f] - mean);
                double rstd = 1 / Math.Sqrt(sq / h + 1e-5);
                for (int f = 0; f < h; f++)
                {
                    double reference = (x[r * h + f] - mean) * rstd;
                    worstOwn = Math.Max(worstOwn, Math.Abs(yOwn[r * h + f] - reference));
                    worstTp = Math.Max(worstTp, Math.Abs(yTp[r * h + f] - reference));
                }
            }
            var batchNorm = new BatchNorm<float>(h);
            float[] bOwn = new float[x.Length], bTp = new float[x.Length];
            batchNorm.Forward(x, bOwn, new SequenceShape(8, 1024), training: false);
            NormalizationFixture.BatchNormEvalByTensorPrimitives(x, bTp, batchNorm, new float[h], new float[h]);
            Console.WriteLine($"h = {h}: LayerNorm hand-written {worstOwn:E2}, TensorPrimitives per row {worstTp:E2}, {Differ(yOwn, yTp)} of {x.Length} differ; BatchNorm eval: {Differ(bOwn, bTp)} differ");
        }
    }
}
