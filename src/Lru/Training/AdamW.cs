using System.Numerics;
using System.Runtime.InteropServices;
using Lru.Modules;

namespace Lru.Training;

/// <summary>
/// Adam with decoupled weight decay, exactly as <c>torch.optim.AdamW</c> (without amsgrad): at step <c>t</c>,
/// with learning rate <c>lr</c> (the group's rate times the schedule's factor), weight decay <c>wd</c> and
/// gradient <c>g</c>, every element is updated as
/// <code>
/// p ← p · (1 − lr·wd)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (sqrt(v) / sqrt(1 − β₂ᵗ) + ε)
/// </code>
/// which is <c>p − lr · m̂ / (sqrt(v̂) + ε)</c> with <c>m̂ = m / (1 − β₁ᵗ)</c>, <c>v̂ = v / (1 − β₂ᵗ)</c>.
/// Adam is AdamW with weight decay 0 (<see cref="AdamWSettings.Adam"/>).
/// </summary>
/// <remarks>
/// The scalar coefficients are computed in <see cref="double"/> and rounded to <typeparamref name="T"/>; the
/// elementwise arithmetic is in <typeparamref name="T"/>, vectorised with <see cref="Vector{T}"/> and without
/// fused multiply-adds, so the result of every element is the same as that of the scalar formula above in
/// <typeparamref name="T"/>, independent of the vector width and of threads.
/// The state per parameter is <c>exp_avg</c> (<c>m</c>) and <c>exp_avg_sq</c> (<c>v</c>), both of the
/// parameter's shape, allocated by the constructor and zero until the first step.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class AdamW<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The state-name suffix of the first moment <c>m</c>.</summary>
    public const string ExpAvgName = "exp_avg";

    /// <summary>The state-name suffix of the second moment <c>v</c>.</summary>
    public const string ExpAvgSqName = "exp_avg_sq";

    private readonly T[][] _expAvg, _expAvgSq;

    /// <summary>Creates the optimiser, forms its parameter groups and allocates its state.</summary>
    /// <param name="parameters">The parameters with unique names, for example a model's named parameters.</param>
    /// <param name="settings">Learning rates, weight decay, schedule and the moment coefficients.</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> or <paramref name="settings"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> is empty or repeats a name or a parameter; the message names it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="AdamWSettings.Validate"/>); the parameter name is the setting's name.</exception>
    public AdamW(IEnumerable<(string Name, Parameter<T> Parameter)> parameters, AdamWSettings settings)
        : base(parameters, settings ?? throw new ArgumentNullException(nameof(settings)))
    {
        Settings = settings;
        _expAvg = new T[Parameters.Count][];
        _expAvgSq = new T[Parameters.Count][];
        for (int i = 0; i < Parameters.Count; i++)
        {
            _expAvg[i] = new T[Parameters[i].Length];
            _expAvgSq[i] = new T[Parameters[i].Length];
        }
    }

    /// <summary>The settings the optimiser was created with.</summary>
    public new AdamWSettings Settings { get; }

    /// <summary>The first moment <c>m</c> (<c>exp_avg</c>) of a parameter, same shape as its value.</summary>
    /// <param name="parameterName">A name passed to the constructor.</param>
    /// <returns>A read-only view of the live state.</returns>
    /// <exception cref="ArgumentException"><paramref name="parameterName"/> is not one of <see cref="Optimizer{T}.ParameterNames"/>.</exception>
    public ReadOnlySpan<T> FirstMoment(string parameterName) => _expAvg[IndexOf(parameterName)];

    /// <summary>The second moment <c>v</c> (<c>exp_avg_sq</c>) of a parameter, same shape as its value.</summary>
    /// <param name="parameterName">A name passed to the constructor.</param>
    /// <returns>A read-only view of the live state.</returns>
    /// <exception cref="ArgumentException"><paramref name="parameterName"/> is not one of <see cref="Optimizer{T}.ParameterNames"/>.</exception>
    public ReadOnlySpan<T> SecondMoment(string parameterName) => _expAvgSq[IndexOf(parameterName)];

    /// <inheritdoc/>
    protected override IEnumerable<(string Suffix, T[] Buffer)> StateBuffers(int index)
    {
        yield return (ExpAvgName, _expAvg[index]);
        yield return (ExpAvgSqName, _expAvgSq[index]);
    }

    /// <inheritdoc/>
    protected override void Update(int index, Span<T> values, ReadOnlySpan<T> gradient, double learningRate, double weightDecay, long step)
    {
        double beta1 = Settings.Beta1, beta2 = Settings.Beta2;
        double biasCorrection1 = 1.0 - Math.Pow(beta1, step);
        double biasCorrection2 = 1.0 - Math.Pow(beta2, step);
        var c = new Coefficients
        {
            Decay = T.CreateChecked(1.0 - learningRate * weightDecay),
            Beta1 = T.CreateChecked(beta1),
            OneMinusBeta1 = T.CreateChecked(1.0 - beta1),
            Beta2 = T.CreateChecked(beta2),
            OneMinusBeta2 = T.CreateChecked(1.0 - beta2),
            BiasCorrection2Sqrt = T.CreateChecked(Math.Sqrt(biasCorrection2)),
            Epsilon = T.CreateChecked(Settings.Epsilon),
            StepSize = T.CreateChecked(learningRate / biasCorrection1),
        };
        UpdateElements(values, gradient, _expAvg[index], _expAvgSq[index], c, applyDecay: weightDecay != 0 && learningRate != 0);
    }

    internal struct Coefficients
    {
        public T Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, BiasCorrection2Sqrt, Epsilon, StepSize;
    }

    /// <summary>The fused elementwise update; vector and scalar paths perform the same operations in the same order.</summary>
    internal static void UpdateElements(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, in Coefficients c, bool applyDecay)
    {
        int n = p.Length;
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && n >= Vector<T>.Count)
        {
            ref T pr = ref MemoryMarshal.GetReference(p);
            ref T gr = ref MemoryMarshal.GetReference(g);
            ref T mr = ref MemoryMarshal.GetReference(m);
            ref T vr = ref MemoryMarshal.GetReference(v);
            var decay = new Vector<T>(c.Decay);
            var beta1 = new Vector<T>(c.Beta1);
            var oneMinusBeta1 = new Vector<T>(c.OneMinusBeta1);
            var beta2 = new Vector<T>(c.Beta2);
            var oneMinusBeta2 = new Vector<T>(c.OneMinusBeta2);
            var bc2Sqrt = new Vector<T>(c.BiasCorrection2Sqrt);
            var eps = new Vector<T>(c.Epsilon);
            var stepSize = new Vector<T>(c.StepSize);
            int width = Vector<T>.Count;
            for (; i <= n - width; i += width)
            {
                nuint k = (nuint)i;
                var gi = Vector.LoadUnsafe(ref gr, k);
                var pi = Vector.LoadUnsafe(ref pr, k);
                if (applyDecay) pi *= decay;
                var mi = beta1 * Vector.LoadUnsafe(ref mr, k) + oneMinusBeta1 * gi;
                var vi = beta2 * Vector.LoadUnsafe(ref vr, k) + oneMinusBeta2 * (gi * gi);
                var denom = Vector.SquareRoot(vi) / bc2Sqrt + eps;
                pi -= stepSize * (mi / denom);
                mi.StoreUnsafe(ref mr, k);
                vi.StoreUnsafe(ref vr, k);
                pi.StoreUnsafe(ref pr, k);
            }
        }
        for (; i < n; i++)
        {
            T gi = g[i];
            T pi = p[i];
            if (applyDecay) pi *= c.Decay;
            T mi = c.Beta1 * m[i] + c.OneMinusBeta1 * gi;
            T vi = c.Beta2 * v[i] + c.OneMinusBeta2 * (gi * gi);
            T denom = T.Sqrt(vi) / c.BiasCorrection2Sqrt + c.Epsilon;
            pi -= c.StepSize * (mi / denom);
            m[i] = mi;
            v[i] = vi;
            p[i] = pi;
        }
    }
}
