using System.Numerics;
using Lru.Layers;
using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.Training;

public class OptimizerTests
{
    // ---------------------------------------------------------------- helpers

    private static Parameter<T> MakeParameter<T>(string name, int seed, params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = new Parameter<T>(name, shape);
        p.Assign(Compare.Cast<T>(Compare.Random(p.Length, seed)));
        return p;
    }

    /// <summary>Whether the optimiser's default rule puts a parameter in the SSM group (by its local name, as LruLayer names them).</summary>
    private static bool IsRecurrent<T>(Parameter<T> p) where T : unmanaged, IFloatingPointIeee754<T> => OptimizerSettings.IsLruRecurrent(p.Name, p.Shape.ToArray());

    /// <summary>A small LRU-like parameter set: two default-group, two recurrent, one rank-1 default.</summary>
    private static (string, Parameter<T>)[] MakeSet<T>(int seed) where T : unmanaged, IFloatingPointIeee754<T> =>
    [
        ("C_re", MakeParameter<T>("C_re", seed, 3, 5)),
        ("nu_log", MakeParameter<T>("nu_log", seed + 1, 5)),
        ("B_re", MakeParameter<T>("B_re", seed + 2, 5, 3)),
        ("D", MakeParameter<T>("D", seed + 3, 3)),
        ("out.weight", MakeParameter<T>("weight", seed + 4, 7, 6)), // 42 elements: vector body and tail
    ];

    private static void SetGradients<T>(IReadOnlyList<Parameter<T>> parameters, int seed, double scale = 1.0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < parameters.Count; j++)
            Compare.Cast<T>(Compare.Random(parameters[j].Length, seed * 31 + j, scale)).CopyTo(parameters[j].Gradient);
    }

    /// <summary>torch.optim.AdamW written out element by element in double.</summary>
    private sealed class ReferenceAdamW
    {
        private readonly double[] _lr, _wd;
        private readonly double _beta1, _beta2, _eps;
        private long _t;

        public ReferenceAdamW(double[][] values, double[] lr, double[] wd, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        {
            P = values.Select(v => (double[])v.Clone()).ToArray();
            M = values.Select(v => new double[v.Length]).ToArray();
            V = values.Select(v => new double[v.Length]).ToArray();
            (_lr, _wd, _beta1, _beta2, _eps) = (lr, wd, beta1, beta2, eps);
        }

        public double[][] P { get; }
        public double[][] M { get; }
        public double[][] V { get; }

        public void Step(double[][] gradients, double factor)
        {
            _t++;
            double bc1 = 1 - Math.Pow(_beta1, _t), bc2 = 1 - Math.Pow(_beta2, _t);
            for (int j = 0; j < P.Length; j++)
            {
                double lr = _lr[j] * factor, wd = _wd[j];
                for (int i = 0; i < P[j].Length; i++)
                {
                    double g = gradients[j][i];
                    double p = P[j][i] * (1 - lr * wd);
                    M[j][i] = _beta1 * M[j][i] + (1 - _beta1) * g;
                    V[j][i] = _beta2 * V[j][i] + (1 - _beta2) * (g * g);
                    double denom = Math.Sqrt(V[j][i]) / Math.Sqrt(bc2) + _eps;
                    P[j][i] = p - lr / bc1 * (M[j][i] / denom);
                }
            }
        }
    }

    private static AdamWSettings ReferenceSettings() => new()
    {
        LearningRate = 0.02,
        WeightDecay = 0.1,
        SsmLearningRateFactor = 0.25,
        Schedule = new LinearWarmupCosineSchedule(warmupSteps: 2, totalSteps: 7, minFactor: 0.1, startFactor: 0.3),
    };

    private static void RunAgainstReference<T>(int steps, Action<ReferenceAdamW, AdamW<T>> compare)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var set = MakeSet<T>(10);
        var settings = ReferenceSettings();
        var optimizer = new AdamW<T>(set, settings);
        double[] lr = set.Select(e => IsRecurrent(e.Item2) ? 0.005 : 0.02).ToArray();
        double[] wd = set.Select(e => IsRecurrent(e.Item2) ? 0.0 : 0.1).ToArray();
        var reference = new ReferenceAdamW(set.Select(e => Compare.ToDouble<T>(e.Item2.Values)).ToArray(), lr, wd);
        for (int s = 0; s < steps; s++)
        {
            // Gradients vary per step and include sign changes and a step with much larger values.
            SetGradients(optimizer.Parameters, s, scale: s == 3 ? 50.0 : 1.0);
            double[][] g = optimizer.Parameters.Select(p => Compare.ToDouble<T>(p.GradientArray)).ToArray();
            reference.Step(g, settings.Schedule.Factor(s));
            optimizer.Step();
            compare(reference, optimizer);
        }
    }

    // ---------------------------------------------------------------- AdamW arithmetic

    [Fact]
    public void AdamW_Double_MatchesScalarReferenceBitwise()
    {
        RunAgainstReference<double>(9, (reference, optimizer) =>
        {
            for (int j = 0; j < optimizer.Parameters.Count; j++)
            {
                string name = optimizer.ParameterNames[j];
                Assert.Equal(reference.P[j], optimizer.Parameters[j].Value);
                Assert.Equal(reference.M[j], optimizer.FirstMoment(name).ToArray());
                Assert.Equal(reference.V[j], optimizer.SecondMoment(name).ToArray());
            }
        });
    }

    [Fact]
    public void AdamW_Float_MatchesDoubleReference()
    {
        RunAgainstReference<float>(9, (reference, optimizer) =>
        {
            for (int j = 0; j < optimizer.Parameters.Count; j++)
            {
                string name = optimizer.ParameterNames[j];
                Compare.Close<float>(optimizer.Parameters[j].Value, reference.P[j], 1e-6, $"{name} value");
                Compare.Close(optimizer.FirstMoment(name), reference.M[j], 1e-6, $"{name} exp_avg");
                Compare.Close(optimizer.SecondMoment(name), reference.V[j], 1e-6, $"{name} exp_avg_sq");
            }
        });
    }

    [Fact]
    public void Adam_MinimisesQuadratic()
    {
        // f(x) = ½ Σ a_i (x_i − c_i)², ∇f = a ⊙ (x − c), with curvatures spanning three decades.
        const int n = 37;
        var x = new Parameter<double>("x", n);
        double[] a = Enumerable.Range(0, n).Select(i => Math.Pow(10, -1.5 + 3.0 * i / (n - 1))).ToArray();
        double[] c = Compare.Random(n, 5);
        const int steps = 600;
        var adam = new AdamW<double>([("x", x)], AdamWSettings.Adam(0.1) with
        {
            Schedule = new LinearWarmupCosineSchedule(warmupSteps: 20, totalSteps: steps),
        });
        Assert.Equal(0.0, adam.Settings.WeightDecay);

        double Loss()
        {
            double f = 0;
            for (int i = 0; i < n; i++) f += 0.5 * a[i] * (x.Value[i] - c[i]) * (x.Value[i] - c[i]);
            return f;
        }

        double initial = Loss();
        for (int s = 0; s < steps; s++)
        {
            adam.ZeroGradients();
            for (int i = 0; i < n; i++) x.Gradient[i] = a[i] * (x.Value[i] - c[i]);
            adam.Step();
        }
        Assert.True(Loss() < 1e-6 * initial, $"loss {Loss():E3} from {initial:E3}");
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(x.Value[i] - c[i]) < 1e-2, $"x[{i}] = {x.Value[i]}, c = {c[i]}");
    }

    [Fact]
    public void Step_MarksEveryParameterModifiedAndCounts_ZeroGradientsClears()
    {
        var set = MakeSet<float>(3);
        var optimizer = new AdamW<float>(set, new AdamWSettings());
        long[] versions = set.Select(e => e.Item2.Version).ToArray();
        SetGradients(optimizer.Parameters, 1);
        optimizer.Step();
        optimizer.Step();
        Assert.Equal(2, optimizer.StepCount);
        for (int j = 0; j < set.Length; j++) Assert.Equal(versions[j] + 2, set[j].Item2.Version);
        optimizer.ZeroGradients();
        foreach (var (_, p) in set) Assert.All(p.GradientArray, g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Step_AllocatesNothing()
    {
        var set = MakeSet<float>(4);
        var optimizer = new AdamW<float>(set, new AdamWSettings { Schedule = new LinearWarmupCosineSchedule(3, 50) });
        SetGradients(optimizer.Parameters, 2);
        for (int s = 0; s < 5; s++) optimizer.Step(); // warm up the JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int s = 0; s < 20; s++)
        {
            optimizer.Step();
            optimizer.ZeroGradients();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // ---------------------------------------------------------------- groups

    [Fact]
    public void Groups_SsmParametersGetSsmRateAndNoDecay_ZeroGradientStep()
    {
        var set = MakeSet<double>(20);
        double[][] before = set.Select(e => e.Item2.Values.ToArray()).ToArray();
        var optimizer = new AdamW<double>(set, new AdamWSettings { LearningRate = 0.1, WeightDecay = 0.5, SsmLearningRateFactor = 0.25 });

        Assert.Equal(3, optimizer.Groups.Count);
        var decay = optimizer.Groups[0];
        Assert.Equal((ParameterGroupSettings.DecayGroupName, 0.1, 0.5), (decay.Name, decay.LearningRate, decay.WeightDecay));
        Assert.Equal(["C_re", "D", "out.weight"], decay.ParameterNames);
        Assert.Empty(optimizer.Groups[1].ParameterNames);
        var ssm = optimizer.Groups[2];
        Assert.Equal((ParameterGroupSettings.SsmGroupName, 0.025, 0.0), (ssm.Name, ssm.LearningRate, ssm.WeightDecay));
        Assert.Equal(["nu_log", "B_re"], ssm.ParameterNames);
        Assert.Equal(
            [("C_re", "decay"), ("nu_log", "ssm"), ("B_re", "ssm"), ("D", "decay"), ("out.weight", "decay")],
            optimizer.Assignments().ToArray());
        Assert.Same(ssm, optimizer.GroupOf("nu_log"));
        Assert.Same(decay, optimizer.GroupOf("out.weight"));
        Assert.Contains("nu_log", ssm.ToString());

        optimizer.ZeroGradients();
        optimizer.Step();
        for (int j = 0; j < set.Length; j++)
        {
            var p = set[j].Item2;
            double shrink = IsRecurrent(p) ? 1.0 : 1 - 0.1 * 0.5;
            for (int i = 0; i < p.Values.Length; i++) Assert.Equal(before[j][i] * shrink, p.Values[i]);
        }
    }

    [Fact]
    public void Groups_SsmRateDrivesTheUpdateOfRecurrentParameters()
    {
        // First Adam step with g = ±1: m̂ = g, v̂ = 1, so Δp = −lr·g/(1 + ε) exactly the group's rate.
        var set = MakeSet<double>(21);
        double[][] before = set.Select(e => e.Item2.Values.ToArray()).ToArray();
        var optimizer = new AdamW<double>(set, new AdamWSettings { LearningRate = 0.2, WeightDecay = 0.0, SsmLearningRateFactor = 0.5 });
        foreach (var (_, p) in set)
            for (int i = 0; i < p.GradientArray.Length; i++) p.GradientArray[i] = i % 2 == 0 ? 1.0 : -1.0;
        optimizer.Step();
        for (int j = 0; j < set.Length; j++)
        {
            var p = set[j].Item2;
            double lr = IsRecurrent(p) ? 0.1 : 0.2;
            for (int i = 0; i < p.Values.Length; i++)
                Assert.Equal(-lr * p.GradientArray[i] / (1 + 1e-8), p.Values[i] - before[j][i], 1e-12);
        }
    }

    [Fact]
    public void Groups_ExplicitSsmLearningRateOverridesFactor()
    {
        var optimizer = new AdamW<float>(MakeSet<float>(1), new AdamWSettings { LearningRate = 1e-3, SsmLearningRateFactor = 0.5, SsmLearningRate = 3e-4 });
        Assert.Equal(3e-4, optimizer.GroupOf("B_re").LearningRate);
        Assert.Equal(3e-4, optimizer.CurrentLearningRate(ParameterGroupSettings.SsmGroupName));
        Assert.Equal(1e-3, optimizer.CurrentLearningRate(ParameterGroupSettings.DecayGroupName));
        var e = Assert.Throws<ArgumentException>(() => optimizer.CurrentLearningRate("bias"));
        Assert.Equal("groupName", e.ParamName);
    }

    [Fact]
    public void Groups_ExclusionPredicateMovesParametersToNoDecay()
    {
        var vectors = new AdamW<double>(MakeSet<double>(2), new AdamWSettings { WeightDecay = 0.3, ExcludeFromWeightDecay = WeightDecayExclusions.Vectors });
        Assert.Equal(["C_re", "out.weight"], vectors.Groups[0].ParameterNames);
        Assert.Equal(["D"], vectors.Groups[1].ParameterNames);
        Assert.Equal(0.0, vectors.GroupOf("D").WeightDecay);
        Assert.Equal(0.3, vectors.GroupOf("C_re").WeightDecay);
        Assert.Equal("ssm", vectors.GroupOf("nu_log").Name); // recurrent parameters stay in the SSM group even if rank 1

        var byName = new AdamW<double>(MakeSet<double>(2), new AdamWSettings { ExcludeFromWeightDecay = WeightDecayExclusions.NameEndsWith(".weight") });
        Assert.Equal(["out.weight"], byName.Groups[1].ParameterNames);

        // A zero-gradient step shrinks only the decay group.
        var set = MakeSet<double>(2);
        double d0 = set[3].Item2.Values[0], c0 = set[0].Item2.Values[0];
        var optimizer = new AdamW<double>(set, new AdamWSettings { LearningRate = 0.1, WeightDecay = 0.3, ExcludeFromWeightDecay = WeightDecayExclusions.Vectors });
        optimizer.Step();
        Assert.Equal(d0, set[3].Item2.Values[0]);
        Assert.Equal(c0 * (1 - 0.1 * 0.3), set[0].Item2.Values[0]);
    }

    // ---------------------------------------------------------------- state

    private static void RoundTrip<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var settings = ReferenceSettings();
        var setA = MakeSet<T>(30);
        var a = new AdamW<T>(setA, settings);
        for (int s = 0; s < 3; s++)
        {
            SetGradients(a.Parameters, s);
            a.Step();
        }

        // A fresh optimiser over copies of the parameter values, resumed from the exported state.
        var state = a.State().ToArray();
        var setB = MakeSet<T>(99);
        for (int j = 0; j < setB.Length; j++) setA[j].Item2.Values.CopyTo(setB[j].Item2.Values, 0);
        var b = new AdamW<T>(setB, settings);
        b.LoadState(state);
        Assert.Equal(3, b.StepCount);

        for (int s = 3; s < 7; s++)
        {
            SetGradients(a.Parameters, s);
            SetGradients(b.Parameters, s);
            a.Step();
            b.Step();
        }
        for (int j = 0; j < setA.Length; j++) Assert.Equal(setA[j].Item2.Values, setB[j].Item2.Values);
        var stateA = a.State().ToArray();
        var stateB = b.State().ToArray();
        Assert.Equal(stateA.Select(e => e.Name), stateB.Select(e => e.Name));
        for (int k = 0; k < stateA.Length; k++) Assert.Equal(stateA[k].Values, stateB[k].Values);
    }

    [Fact]
    public void State_RoundTripContinuesBitIdentically_Double() => RoundTrip<double>();

    [Fact]
    public void State_RoundTripContinuesBitIdentically_Float() => RoundTrip<float>();

    [Fact]
    public void State_NamesShapesAndIndependentCopies()
    {
        var optimizer = new AdamW<float>(MakeSet<float>(5), new AdamWSettings());
        SetGradients(optimizer.Parameters, 0);
        optimizer.Step();
        var state = optimizer.State().ToArray();
        Assert.Equal(
            ["step", "C_re.exp_avg", "C_re.exp_avg_sq", "nu_log.exp_avg", "nu_log.exp_avg_sq", "B_re.exp_avg", "B_re.exp_avg_sq",
             "D.exp_avg", "D.exp_avg_sq", "out.weight.exp_avg", "out.weight.exp_avg_sq"],
            state.Select(e => e.Name));
        Assert.Equal([0f, 1f], state[0].Values);
        Assert.Equal(15, state[1].Values.Length);
        Assert.Equal(42, state[10].Values.Length);

        state[1].Values[0] = 1234f; // a copy: the optimiser is unaffected
        Assert.NotEqual(1234f, optimizer.FirstMoment("C_re")[0]);
    }

    [Fact]
    public void State_StepCountBeyondFloatPrecisionSurvives()
    {
        var optimizer = new AdamW<float>(MakeSet<float>(6), new AdamWSettings());
        var state = optimizer.State().ToArray();
        long big = (1L << 24) * 3 + 7; // 50 331 655: not representable as one float
        state[0] = ("step", [3f, 7f]);
        optimizer.LoadState(state);
        Assert.Equal(big, optimizer.StepCount);
        optimizer.Step();
        Assert.Equal(big + 1, optimizer.StepCount);
        Assert.Equal([3f, 8f], optimizer.State().First().Values);
    }

    [Fact]
    public void LoadState_RejectsMismatchedStateAndChangesNothing()
    {
        var optimizer = new AdamW<double>(MakeSet<double>(7), new AdamWSettings());
        SetGradients(optimizer.Parameters, 0);
        optimizer.Step();
        var good = optimizer.State().ToArray();
        double m0 = optimizer.FirstMoment("D")[0];

        void Rejects((string Name, double[] Values)[] state, string fragment)
        {
            var e = Assert.Throws<ArgumentException>(() => optimizer.LoadState(state));
            Assert.Equal("state", e.ParamName);
            Assert.Contains(fragment, e.Message);
            Assert.Equal(1, optimizer.StepCount);
            Assert.Equal(m0, optimizer.FirstMoment("D")[0]);
        }

        var zeros = good.Select(e => (e.Name, new double[e.Values.Length])).ToArray();
        zeros[0] = ("step", [0.0, 9.0]);
        Rejects([.. zeros.Where(e => e.Name != "D.exp_avg")], "'D.exp_avg' is missing");
        Rejects([.. zeros.Where(e => e.Name != "step")], "'step' is missing");
        Rejects([.. zeros, ("E.exp_avg", new double[3])], "'E.exp_avg'");
        Rejects([.. zeros, zeros[3]], "more than once");
        Rejects([.. zeros.Select(e => e.Name == "B_re.exp_avg_sq" ? (e.Name, new double[14]) : e)], "'B_re.exp_avg_sq' has length 14");
        Rejects([.. zeros.Select(e => e.Name == "step" ? (e.Name, [-1.0, 0.0]) : e)], "'step'");
        Rejects([.. zeros.Select(e => e.Name == "step" ? (e.Name, [0.5, 0.0]) : e)], "'step'");
        Rejects([.. zeros.Select(e => e.Name == "step" ? (e.Name, new[] { 4.0 }) : e)], "'step' has length 1");
        Assert.Throws<ArgumentNullException>(() => optimizer.LoadState(null!));
    }

    // ---------------------------------------------------------------- validation

    [Fact]
    public void Settings_OutOfRangeValuesAreRejectedByName()
    {
        var set = MakeSet<double>(8);

        void Rejects(AdamWSettings settings, string name, string value)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW<double>(set, settings));
            Assert.Equal(name, e.ParamName);
            Assert.Contains(value, e.Message);
        }

        Rejects(new AdamWSettings { LearningRate = -1e-3 }, "LearningRate", "-0.001");
        Rejects(new AdamWSettings { LearningRate = double.NaN }, "LearningRate", "NaN");
        Rejects(new AdamWSettings { WeightDecay = -0.5 }, "WeightDecay", "-0.5");
        Rejects(new AdamWSettings { SsmLearningRateFactor = -2 }, "SsmLearningRateFactor", "-2");
        Rejects(new AdamWSettings { SsmLearningRate = double.PositiveInfinity }, "SsmLearningRate", double.PositiveInfinity.ToString());
        Rejects(new AdamWSettings { Beta1 = 1.0 }, "Beta1", "1");
        Rejects(new AdamWSettings { Beta1 = -0.1 }, "Beta1", "-0.1");
        Rejects(new AdamWSettings { Beta2 = 1.5 }, "Beta2", "1.5");
        Rejects(new AdamWSettings { Epsilon = 0 }, "Epsilon", "0");
        Rejects(new AdamWSettings { Epsilon = -1e-8 }, "Epsilon", "-1E-08");
        var e = Assert.Throws<ArgumentNullException>(() => new AdamW<double>(set, new AdamWSettings { Schedule = null! }));
        Assert.Equal("Schedule", e.ParamName);
    }

    [Fact]
    public void Constructor_RejectsBadParameterLists()
    {
        var p = new Parameter<float>("w", 2);
        var q = new Parameter<float>("w", 2);

        void Rejects((string, Parameter<float>)[] list, string fragment)
        {
            var e = Assert.Throws<ArgumentException>(() => new AdamW<float>(list, new AdamWSettings()));
            Assert.Equal("parameters", e.ParamName);
            Assert.Contains(fragment, e.Message);
        }

        Rejects([("w", p), ("w", q)], "'w' occurs more than once");
        Rejects([("a.w", p), ("b.w", p)], "'a.w' and 'b.w'");
        Rejects([], "at least one parameter");
        Rejects([("", p)], "empty name");
        Rejects([("w", null!)], "'w') is null");
        Assert.Equal("settings", Assert.Throws<ArgumentNullException>(() => new AdamW<float>([("w", p)], null!)).ParamName);
        Assert.Equal("parameters", Assert.Throws<ArgumentNullException>(() => new AdamW<float>(null!, new AdamWSettings())).ParamName);

        var optimizer = new AdamW<float>([("w", p)], new AdamWSettings());
        Assert.Equal("parameterName", Assert.Throws<ArgumentException>(() => optimizer.GroupOf("v")).ParamName);
    }

    // ---------------------------------------------------------------- gradient clipping

    private static double ReferenceNorm<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T> =>
        Math.Sqrt(parameters.Sum(p => Compare.ToDouble<T>(p.GradientArray).Sum(g => g * g)));

    [Fact]
    public void Clipping_NormAboveMaxIsScaledToMaxNorm()
    {
        var parameters = MakeSet<double>(40).Select(e => e.Item2).ToArray();
        SetGradients(parameters, 3);
        double expected = ReferenceNorm(parameters);
        double[][] before = parameters.Select(p => p.GradientArray.ToArray()).ToArray();

        Assert.Equal(expected, GradientClipping.GlobalNorm(parameters.Take(0).Concat(parameters)), 1e-12); // lazy enumerable
        double norm = GradientClipping.ClipGlobalNorm(parameters, 2.0);
        Assert.Equal(expected, norm, 1e-12);
        Assert.True(expected > 2.0);
        Assert.Equal(2.0, ReferenceNorm(parameters), 1e-6);
        double coefficient = 2.0 / (expected + 1e-6);
        for (int j = 0; j < parameters.Length; j++)
            for (int i = 0; i < before[j].Length; i++)
                Assert.Equal(before[j][i] * coefficient, parameters[j].Gradient[i], 1e-15);
    }

    [Fact]
    public void Clipping_Float_ScalesToMaxNorm()
    {
        var parameters = MakeSet<float>(41).Select(e => e.Item2).ToList();
        SetGradients(parameters, 4, scale: 10);
        double expected = ReferenceNorm(parameters);
        Assert.Equal(expected, GradientClipping.ClipGlobalNorm(parameters, 1.0), 1e-9 * expected);
        Assert.Equal(1.0, ReferenceNorm(parameters), 1e-6);
    }

    [Fact]
    public void Clipping_NormBelowMaxLeavesGradientsUntouched()
    {
        var parameters = MakeSet<double>(42).Select(e => e.Item2).ToArray();
        SetGradients(parameters, 5, scale: 0.01);
        double[][] before = parameters.Select(p => p.GradientArray.ToArray()).ToArray();
        double norm = GradientClipping.ClipGlobalNorm(parameters, 1.0);
        Assert.True(norm < 1.0);
        Assert.Equal(ReferenceNorm(parameters), norm, 1e-15);
        for (int j = 0; j < parameters.Length; j++) Assert.Equal(before[j], parameters[j].Gradient);
        Assert.Equal(norm, GradientClipping.ClipGlobalNorm(parameters, double.PositiveInfinity));
    }

    [Fact]
    public void Clipping_NonFiniteNormIsReturnedOrThrown()
    {
        var parameters = MakeSet<float>(43).Select(e => e.Item2).ToArray();
        SetGradients(parameters, 6);
        parameters[2].Gradient[4] = float.NaN;
        float[] before = parameters[0].Gradient.ToArray();
        Assert.True(double.IsNaN(GradientClipping.ClipGlobalNorm(parameters, 1.0)));
        Assert.Equal(before, parameters[0].Gradient);

        var e = Assert.Throws<InvalidOperationException>(() => GradientClipping.ClipGlobalNorm(parameters, 1.0, throwIfNonFinite: true));
        Assert.Contains("'B_re'", e.Message);
        Assert.Contains("element 4", e.Message);

        parameters[2].Gradient[4] = float.NegativeInfinity;
        Assert.Equal(double.PositiveInfinity, GradientClipping.ClipGlobalNorm(parameters, 1.0));
        Assert.Equal(before, parameters[0].Gradient);
    }

    [Fact]
    public void Clipping_LargeFiniteDoubleGradientsDoNotOverflow()
    {
        var p = new Parameter<double>("w", 2);
        p.GradientArray[0] = 3e200;
        p.GradientArray[1] = 4e200;
        double norm = GradientClipping.ClipGlobalNorm([p], 1.0);
        Assert.Equal(5e200, norm, 1e188);
        Assert.Equal(0.6, p.GradientArray[0], 1e-12);
        Assert.Equal(0.8, p.GradientArray[1], 1e-12);
    }

    [Fact]
    public void Clipping_RejectsBadArguments()
    {
        Parameter<double>[] parameters = [new("w", 2)];
        Assert.Equal("maxNorm", Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(parameters, 0.0)).ParamName);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(parameters, -1.5));
        Assert.Contains("-1.5", e.Message);
        Assert.Equal("maxNorm", Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(parameters, double.NaN)).ParamName);
        Assert.Equal("parameters", Assert.Throws<ArgumentNullException>(() => GradientClipping.ClipGlobalNorm<double>(null!, 1.0)).ParamName);
        Assert.Equal("parameters", Assert.Throws<ArgumentException>(() => GradientClipping.GlobalNorm<double>([parameters[0], null!])).ParamName);
    }
}
