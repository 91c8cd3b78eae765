using Lru.Modules;

namespace Lru.Tests.Support;

/// <summary>
/// Central finite-difference checks of analytic gradients, in double precision, reusable for single layers,
/// blocks and whole models.
/// </summary>
/// <remarks>
/// <para>The error measure is normwise: <c>max|analytic − numeric| / max(max|numeric|, tiny)</c>. With the step
/// <c>h = 1e-6</c> the truncation error of central differences is <c>O(h²) ≈ 1e-12</c> and the rounding error
/// about <c>1e-16·|ℒ|/h ≈ 1e-10·|ℒ|</c>, far below the default tolerance of 1e-6.</para>
/// <para>Layers are checked through the scalar <c>ℒ = Σ_i w_i y_i</c> with fixed random weights <c>w</c>, so every
/// output matters and <c>∂ℒ/∂y = w</c>. Layers that draw random numbers in training mode (dropout) must be reset
/// before every forward pass with the <c>beforeForward</c> hook, so that all passes see the same randomness.</para>
/// </remarks>
internal static class GradientCheck
{
    /// <summary>The finite-difference step h.</summary>
    public const double Step = 1e-6;

    /// <summary>The default largest normwise relative error.</summary>
    public const double Tolerance = 1e-6;

    /// <summary>
    /// Compares <paramref name="analytic"/> with central differences of <paramref name="loss"/> with respect to
    /// every element of <paramref name="values"/> (perturbed in place and restored), and asserts the error.
    /// </summary>
    /// <param name="loss">Runs the forward pass with the current <paramref name="values"/> and returns ℒ.</param>
    /// <param name="values">The variables; the function reads them on every call.</param>
    /// <param name="analytic">∂ℒ/∂values from the backward pass, same length.</param>
    /// <param name="what">A name for the failure message.</param>
    /// <param name="onChange">Called after every change of <paramref name="values"/> (for example <c>Parameter.MarkModified</c>).</param>
    /// <param name="step">h.</param>
    /// <param name="tolerance">The largest normwise relative error.</param>
    /// <returns>The normwise relative error.</returns>
    public static double Check(Func<double> loss, double[] values, ReadOnlySpan<double> analytic, string what = "values",
        Action? onChange = null, double step = Step, double tolerance = Tolerance)
    {
        Assert.Equal(values.Length, analytic.Length);
        double[] numeric = Numeric(loss, values, onChange, step);
        double maxErr = 0, maxRef = 0;
        int worst = -1;
        for (int i = 0; i < values.Length; i++)
        {
            Assert.False(double.IsNaN(analytic[i]) || double.IsInfinity(analytic[i]), $"{what}: analytic gradient [{i}] is {analytic[i]}");
            double err = Math.Abs(analytic[i] - numeric[i]);
            if (err > maxErr) { maxErr = err; worst = i; }
            maxRef = Math.Max(maxRef, Math.Abs(numeric[i]));
        }
        double relative = maxErr / Math.Max(maxRef, 1e-30);
        Assert.True(relative <= tolerance,
            $"{what}: relative gradient error {relative:E3} exceeds {tolerance:E1} (worst element {worst}: analytic {(worst >= 0 ? analytic[worst] : 0):R}, numeric {(worst >= 0 ? numeric[worst] : 0):R}; max |numeric| {maxRef:E3}).");
        return relative;
    }

    /// <summary>Central differences <c>(ℒ(v + h) − ℒ(v − h)) / 2h</c> for every element of <paramref name="values"/>.</summary>
    public static double[] Numeric(Func<double> loss, double[] values, Action? onChange = null, double step = Step)
    {
        var numeric = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double saved = values[i];
            values[i] = saved + step;
            onChange?.Invoke();
            double plus = loss();
            values[i] = saved - step;
            onChange?.Invoke();
            double minus = loss();
            values[i] = saved;
            onChange?.Invoke();
            numeric[i] = (plus - minus) / (2 * step);
        }
        return numeric;
    }

    /// <summary>
    /// Checks every parameter: the analytic gradients are read from <see cref="Parameter{T}.Gradient"/>, which the caller
    /// must have filled by one backward pass of the same ℒ from zeroed gradients. Values are perturbed with
    /// <see cref="Parameter{T}.MarkModified"/> after each change, so layers with derived caches see the change.
    /// </summary>
    /// <param name="loss">Runs the forward pass and returns ℒ.</param>
    /// <param name="parameters">The parameters with their names (for messages).</param>
    /// <param name="tolerance">The largest normwise relative error.</param>
    public static void Parameters(Func<double> loss, IEnumerable<(string Name, Parameter<double> Parameter)> parameters, double tolerance = Tolerance)
    {
        foreach (var (name, p) in parameters.ToArray())
        {
            double[] analytic = p.Gradient.ToArray();
            Check(loss, p.Values, analytic, name, p.MarkModified, tolerance: tolerance);
        }
    }

    /// <summary>
    /// The full check of a layer in training mode: draws an input (B, L, In) and loss weights from <paramref name="seed"/>,
    /// runs forward and backward with <c>∂ℒ/∂y = w</c>, then checks ∂ℒ/∂x and every parameter of
    /// <see cref="Module{T}.NamedParameters"/> against central differences.
    /// </summary>
    /// <param name="layer">The layer, in training mode; its parameter gradients are overwritten.</param>
    /// <param name="batch">B.</param>
    /// <param name="length">L.</param>
    /// <param name="seed">Seeds the input and the loss weights.</param>
    /// <param name="tolerance">The largest normwise relative error.</param>
    /// <param name="beforeForward">Called before every forward pass (reset random generators here).</param>
    /// <param name="inputScale">The standard deviation of the input.</param>
    /// <param name="lengths">Valid lengths of padded sequences, or null.</param>
    public static void Layer(Module<double> layer, int batch, int length, int seed, double tolerance = Tolerance,
        Action? beforeForward = null, double inputScale = 1.0, int[]? lengths = null)
    {
        layer.IsTraining = true;
        double[] x = Compare.Random(batch * length * layer.InputFeatures, seed, inputScale);
        double[] w = Compare.Random(layer.OutputSize(batch, length), seed + 1000);
        double[] y = new double[w.Length];
        double Loss()
        {
            beforeForward?.Invoke();
            layer.Forward(x, y, batch, length, lengths);
            return WeightedSum(y, w);
        }

        ZeroGradients(layer.NamedParameters());
        Loss();
        double[] gradInput = new double[x.Length];
        layer.Backward(w, gradInput, batch, length);
        var named = layer.NamedParameters().ToArray();
        double[][] analytic = named.Select(n => n.Parameter.Gradient.ToArray()).ToArray();

        Check(Loss, x, gradInput, "input", tolerance: tolerance);
        for (int i = 0; i < named.Length; i++)
            Check(Loss, named[i].Parameter.Values, analytic[i], named[i].Name, named[i].Parameter.MarkModified, tolerance: tolerance);
    }

    /// <summary>
    /// Float against double on the same weights: rounds the parameters of <paramref name="reference"/> to float,
    /// copies them into <paramref name="single"/> (same names, same order), runs both on the same float-exact input
    /// and output gradient, and compares outputs, input gradients and parameter gradients.
    /// </summary>
    /// <param name="single">The float layer, freshly created (its random state, if any, must match the reference's).</param>
    /// <param name="reference">The double layer of the same configuration.</param>
    /// <param name="batch">B.</param>
    /// <param name="length">L.</param>
    /// <param name="seed">Seeds the input and the output gradient.</param>
    /// <param name="tolerance">The largest normwise relative error (default 1e-4).</param>
    public static void FloatMatchesDouble(Module<float> single, Module<double> reference, int batch, int length, int seed, double tolerance = 1e-4)
    {
        single.IsTraining = reference.IsTraining = true;
        var singles = single.NamedParameters().ToArray();
        var doubles = reference.NamedParameters().ToArray();
        Assert.Equal(doubles.Select(p => p.Name), singles.Select(p => p.Name));
        for (int i = 0; i < doubles.Length; i++)
        {
            double[] d = doubles[i].Parameter.Values;
            float[] f = singles[i].Parameter.Values;
            for (int j = 0; j < d.Length; j++)
            {
                f[j] = (float)d[j];
                d[j] = f[j];
            }
            doubles[i].Parameter.MarkModified();
            singles[i].Parameter.MarkModified();
        }
        ZeroGradients(doubles);
        foreach (var (_, p) in singles) p.ZeroGradient();

        double[] x = RoundToFloat(Compare.Random(batch * length * reference.InputFeatures, seed));
        double[] gy = RoundToFloat(Compare.Random(batch * length * reference.OutputFeatures, seed + 1000));
        double[] y = new double[gy.Length], gx = new double[x.Length];
        float[] yf = new float[gy.Length], gxf = new float[x.Length];
        reference.Forward(x, y, batch, length);
        single.Forward(Compare.Cast<float>(x), yf, batch, length);
        Compare.Close<float>(yf, y, tolerance, "output");
        reference.Backward(gy, gx, batch, length);
        single.Backward(Compare.Cast<float>(gy), gxf, batch, length);
        Compare.Close<float>(gxf, gx, tolerance, "input gradient");
        for (int i = 0; i < doubles.Length; i++)
            Compare.Close<float>(singles[i].Parameter.Gradient, doubles[i].Parameter.Gradient.ToArray(), tolerance, doubles[i].Name);
    }

    /// <summary>
    /// Checks that a second backward pass over the same forward writes the same input gradient and doubles every
    /// parameter gradient (gradients accumulate).
    /// </summary>
    public static void Accumulates(Module<double> layer, int batch, int length, int seed)
    {
        layer.IsTraining = true;
        double[] x = Compare.Random(batch * length * layer.InputFeatures, seed);
        double[] gy = Compare.Random(batch * length * layer.OutputFeatures, seed + 1);
        double[] y = new double[gy.Length], gx1 = new double[x.Length], gx2 = new double[x.Length];
        var named = layer.NamedParameters().ToArray();
        ZeroGradients(named);
        layer.Forward(x, y, batch, length);
        layer.Backward(gy, gx1, batch, length);
        double[][] once = named.Select(n => n.Parameter.Gradient.ToArray()).ToArray();
        layer.Backward(gy, gx2, batch, length);
        Assert.Equal(gx1, gx2);
        for (int i = 0; i < named.Length; i++)
        {
            Assert.Contains(once[i], v => v != 0);
            Compare.Close<double>(named[i].Parameter.Gradient, once[i].Select(v => 2 * v).ToArray(), 1e-13, named[i].Name);
        }
    }

    /// <summary>
    /// Checks that a training forward and backward of a shape seen before allocate nothing on the calling thread
    /// (owned buffers are grown on first use only). Use shapes small enough to stay on one thread.
    /// </summary>
    public static void AllocatesNothingInSteadyState<T>(Module<T> layer, int batch, int length)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        layer.IsTraining = true;
        T[] x = Compare.Cast<T>(Compare.Random(batch * length * layer.InputFeatures, 1));
        T[] gy = Compare.Cast<T>(Compare.Random(batch * length * layer.OutputFeatures, 2));
        T[] y = new T[gy.Length], gx = new T[x.Length];
        for (int i = 0; i < 3; i++) Run(); // grow buffers, create gradients, warm up the JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{layer.GetType().Name}: a steady-state step allocated {allocated} bytes.");

        void Run()
        {
            layer.IsTraining = true;
            layer.Forward(x, y, batch, length);
            layer.Backward(gy, gx, batch, length);
            layer.IsTraining = false;
            layer.Forward(x, y, batch, length);
        }
    }

    /// <summary>Sets every parameter gradient to zero.</summary>
    public static void ZeroGradients(IEnumerable<(string Name, Parameter<double> Parameter)> parameters)
    {
        foreach (var (_, p) in parameters) p.ZeroGradient();
    }

    /// <summary>Fills every parameter with Normal(mean, scale²) values drawn from <paramref name="seed"/> (to leave special points such as weight = 1).</summary>
    public static void Randomize(IEnumerable<(string Name, Parameter<double> Parameter)> parameters, int seed, double mean = 0, double scale = 1)
    {
        int k = 0;
        foreach (var (_, p) in parameters)
        {
            double[] r = Compare.Random(p.Value.Length, seed + 7919 * k++, scale);
            for (int i = 0; i < r.Length; i++) p.Values[i] = mean + r[i];
            p.MarkModified();
        }
    }

    /// <summary>Σ_i w_i y_i.</summary>
    public static double WeightedSum(ReadOnlySpan<double> y, ReadOnlySpan<double> w)
    {
        Assert.Equal(w.Length, y.Length);
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += w[i] * y[i];
        return s;
    }

    private static double[] RoundToFloat(double[] values) => values.Select(v => (double)(float)v).ToArray();
}
