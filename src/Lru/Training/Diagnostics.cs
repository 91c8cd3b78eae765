using System.Numerics;
using System.Numerics.Tensors;
using Lru.Data;
using Lru.Layers;
using Lru.Modules;

namespace Lru.Training;

/// <summary>
/// What a run that does not learn needs looked at: gradient norms per parameter, the moduli |λ| of every LRU layer,
/// and the model's effective memory — how strongly its output still depends on an input step d steps before the end.
/// Read-only: nothing here changes a value, a gradient, a running statistic or a random state.
/// </summary>
public static class Diagnostics
{
    /// <summary>The L2 norm of a parameter's gradient (accumulated in double).</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="parameter">The parameter.</param>
    /// <returns>‖∂ℒ/∂p‖₂.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="parameter"/> is null.</exception>
    public static double GradientNorm<T>(Parameter<T> parameter) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameter);
        double sum = 0;
        foreach (T g in parameter.Gradient) sum += double.CreateTruncating(g) * double.CreateTruncating(g);
        return Math.Sqrt(sum);
    }

    /// <summary>The moduli <c>|λ_j| = exp(−exp(nu_log_j))</c> of every <see cref="LruLayer{T}"/> in <paramref name="model"/>, under the model's names.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="model">Any module tree.</param>
    /// <returns>One entry per LRU layer, in the model's order: its name and its N moduli.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    public static IReadOnlyList<(string Name, double[] Moduli)> LambdaModuli<T>(Module<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = new List<(string, double[])>();
        foreach (var (name, module) in model.NamedModules())
        {
            if (module is not LruLayer<T> lru) continue;
            ReadOnlySpan<T> nu = lru.NuLog.Value;
            var moduli = new double[nu.Length];
            for (int j = 0; j < nu.Length; j++) moduli[j] = Math.Exp(-Math.Exp(double.CreateTruncating(nu[j])));
            layers.Add((name, moduli));
        }
        return layers;
    }

    /// <summary>
    /// The effective memory of a model with one output per sequence: for each distance d, the mean over the first
    /// <paramref name="count"/> sequences and over the outputs of <c>|y(u + ε·e) − y(u)| / ε</c>, where e adds one to
    /// every input feature at step <c>L − 1 − d</c> (the last step is d = 0). An evaluation-mode forward pass per
    /// distance (running statistics are used, not updated; dropout is off), so it measures the model as deployed.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="model">A model whose output is (batch, outputs): pooled over time.</param>
    /// <param name="data">Real-valued sequences (not tokens) of one length.</param>
    /// <param name="count">How many sequences, from the first; at least 1, at most <c>data.Count</c>.</param>
    /// <param name="distances">Distances from the last step, each in [0, L).</param>
    /// <param name="epsilon">The perturbation; positive. The difference is taken in the data type, so ε should be well above its rounding (1e-2 for float inputs of order 1).</param>
    /// <returns>One sensitivity per distance.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data holds tokens, has padded sequences, has per-step targets or another number of features than the model takes (<c>data</c>); or the model's output is not one row per sequence (<c>model</c>).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/>, a distance or <paramref name="epsilon"/> is out of range.</exception>
    public static double[] InputSensitivity<T>(Module<T> model, SequenceDataset<T> data, int count, ReadOnlySpan<int> distances, double epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Inputs is null) throw new ArgumentException("Input sensitivity needs real-valued inputs; this data set holds tokens.", nameof(data));
        if (data.Lengths is not null) throw new ArgumentException("Input sensitivity needs sequences of one length; this data set is padded.", nameof(data));
        if (data.PerStep) throw new ArgumentException("Input sensitivity needs one target per sequence; this data set has a target per step.", nameof(data));
        if (data.Features != model.InputFeatures)
            throw new ArgumentException($"The data has {data.Features} features per step but this {model.TypeName} takes {model.InputFeatures}.", nameof(data));
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, data.Count);
        if (!(epsilon > 0) || !double.IsFinite(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be positive and finite; got {epsilon}.");
        int length = data.Length, features = data.Features;
        foreach (int d in distances)
            if (d < 0 || d >= length)
                throw new ArgumentOutOfRangeException(nameof(distances), d, $"Every distance must be in [0, {length}); got {d}.");
        int outputs = model.OutputSize(count, length);
        if (outputs % count != 0 || outputs / count != model.OutputFeatures)
            throw new ArgumentException($"Input sensitivity needs one output row per sequence; this {model.TypeName} gives {outputs} values for {count} sequences.", nameof(model));

        T[] input = data.Inputs.AsSpan(0, count * length * features).ToArray();
        T[] baseline = new T[outputs], perturbed = new T[outputs];
        var shape = new SequenceShape(count, length);
        model.Forward(input, baseline, shape, training: false);
        T step = T.CreateTruncating(epsilon);
        var result = new double[distances.Length];
        for (int i = 0; i < distances.Length; i++)
        {
            int t = length - 1 - distances[i];
            for (int b = 0; b < count; b++)
                for (int f = 0; f < features; f++) input[((long)b * length + t) * features + f] += step;
            model.Forward(input, perturbed, shape, training: false);
            for (int b = 0; b < count; b++)
                for (int f = 0; f < features; f++)
                {
                    long k = ((long)b * length + t) * features + f;
                    input[k] = data.Inputs[k];
                }
            TensorPrimitives.Subtract<T>(perturbed, baseline, perturbed);
            result[i] = double.CreateTruncating(TensorPrimitives.SumOfMagnitudes<T>(perturbed)) / outputs / epsilon;
        }
        return result;
    }
}
