using System.Globalization;
using System.Numerics;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.IO;

/// <summary>
/// More parity with PyTorch 1.13 in float64 (fixtures written by Fixtures/make_fixtures.py and committed): BatchNorm
/// and post-norm blocks with the MLP or GLU and both GELUs (including BatchNorm's running statistics), a token model
/// with valid lengths, the three masked losses, and two AdamW steps with the library's parameter groups.
/// Float results are held to 1e-4 and double to 1e-10 (normwise relative error, see <see cref="Compare"/>).
/// </summary>
public class ParityMoreTests
{
    private static SafeTensorsFile Fixture(string name) => SafeTensorsFile.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".safetensors"));

    private static int Meta(SafeTensorsFile f, string key) => int.Parse(f.Metadata[key], CultureInfo.InvariantCulture);

    private static double MetaDouble(SafeTensorsFile f, string key) => double.Parse(f.Metadata[key], CultureInfo.InvariantCulture);

    private static T[] Read<T>(SafeTensorsFile f, string name) where T : INumberBase<T> => f.ReadFloat64(name).Select(T.CreateChecked).ToArray();

    private static int[] ReadIntegers(SafeTensorsFile f, string name) =>
        f.ReadFloat64(name).Select(v => { Assert.Equal(Math.Round(v), v); return (int)v; }).ToArray();

    public static TheoryData<string, double> Precisions => new() { { "float", 1e-4 }, { "double", 1e-10 } };

    /// <summary>Loads every <c>param.*</c> tensor of the fixture into the parameter of that name (and checks that the names agree one to one).</summary>
    private static void Load<T>(SafeTensorsFile f, IEnumerable<(string Name, Parameter<T> Parameter)> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = 0;
        foreach (var (name, p) in parameters)
        {
            double[] values = f.ReadFloat64("param." + name);
            Assert.Equal(p.Length, values.Length);
            p.Assign(values.Select(T.CreateChecked).ToArray());
            p.ZeroGradient();
            count++;
        }
        Assert.Equal(f.Tensors.Count(t => t.Name.StartsWith("param.", StringComparison.Ordinal)), count);
    }

    private static void CheckGradients<T>(SafeTensorsFile f, IEnumerable<(string Name, Parameter<T> Parameter)> parameters, double tolerance,
        IReadOnlyDictionary<string, string>? zeroGradients = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (name, p) in parameters)
        {
            double[] reference = f.ReadFloat64("grad." + name);
            if (zeroGradients is not null && zeroGradients.TryGetValue(name, out string? scaleName))
            {
                // The exact gradient is 0, so both sides hold rounding noise and a relative error means nothing: hold
                // both to the tolerance times the scale of a neighbouring gradient instead.
                double scale = f.ReadFloat64("grad." + scaleName).Max(Math.Abs);
                Assert.True(reference.Max(Math.Abs) <= 1e-12 * scale, $"grad.{name}: the fixture's gradient is not zero");
                double largest = Compare.ToDouble<T>(p.Gradient).Max(Math.Abs);
                Assert.True(largest <= tolerance * scale, $"grad.{name}: {largest:E3} exceeds {tolerance:E1} × {scale:E3}");
                continue;
            }
            Compare.Close<T>(p.Gradient, reference, tolerance, "grad." + name);
        }
    }

    /// <summary>The block settings the fixture's metadata names (its norm, placement, mixer, GELU; residual on, no dropout).</summary>
    private static LruBlockConfig BlockConfig(SafeTensorsFile f)
    {
        Assert.Equal("true", f.Metadata["residual"]);
        Assert.Equal(0.0, MetaDouble(f, "dropout"));
        return new LruBlockConfig(
            new LruConfig(Meta(f, "hidden"), Meta(f, "state")),
            Norm: f.Metadata["norm"] switch { "layernorm" => NormKind.LayerNorm, "batchnorm" => NormKind.BatchNorm, var s => throw new InvalidDataException(s) },
            Placement: f.Metadata["placement"] switch { "pre" => NormPlacement.Pre, "post" => NormPlacement.Post, var s => throw new InvalidDataException(s) },
            Mixer: f.Metadata["mixer"] switch { "glu" => MixerKind.Glu, "mlp" => MixerKind.Mlp, var s => throw new InvalidDataException(s) },
            MlpExpansion: f.Metadata.ContainsKey("mlp_expansion") ? Meta(f, "mlp_expansion") : 4,
            Gelu: f.Metadata["gelu"] switch { "none" => GeluApproximation.None, "tanh" => GeluApproximation.Tanh, var s => throw new InvalidDataException(s) });
    }

    private static void RunBlock<T>(string fixture, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture(fixture);
        int batch = Meta(f, "batch"), length = Meta(f, "length");
        var block = new LruBlock<T>(BlockConfig(f));
        if (block.Norm is BatchNorm<T> batchNorm)
        {
            // The fixture starts from the library's initial running statistics and its BatchNorm settings.
            Assert.Equal(MetaDouble(f, "momentum"), batchNorm.Momentum);
            Assert.Equal(MetaDouble(f, "epsilon"), batchNorm.Epsilon);
            Assert.All(batchNorm.RunningMean, v => Assert.Equal(T.Zero, v));
            Assert.All(batchNorm.RunningVariance, v => Assert.Equal(T.One, v));
        }
        else
        {
            Assert.Equal(MetaDouble(f, "epsilon"), ((LayerNorm<T>)block.Norm).Epsilon);
        }
        Load(f, block.NamedParameters());
        T[] u = Read<T>(f, "input"), w = Read<T>(f, "loss_weights");
        T[] y = new T[u.Length], gradU = new T[u.Length];
        block.IsTraining = true;
        block.Forward(u, y, batch, length);
        block.Backward(w, gradU, batch, length);
        Compare.Close<T>(y, f.ReadFloat64("output"), tolerance, "output");
        Compare.Close<T>(gradU, f.ReadFloat64("grad.input"), tolerance, "grad.input");
        // Post-norm BatchNorm subtracts each feature's batch mean, so the MLP's output bias (a per-feature constant
        // added before it) has gradient exactly 0.
        var zero = block.Config is { Norm: NormKind.BatchNorm, Placement: NormPlacement.Post, Mixer: MixerKind.Mlp }
            ? new Dictionary<string, string> { ["mlp.fc2.bias"] = "mlp.fc2.weight" }
            : null;
        CheckGradients(f, block.NamedParameters(), tolerance, zero);

        int buffers = 0;
        foreach (var (name, values) in block.NamedBuffers())
        {
            Compare.Close<T>(values, f.ReadFloat64("buffer." + name), tolerance, "buffer." + name);
            buffers++;
        }
        Assert.Equal(f.Tensors.Count(t => t.Name.StartsWith("buffer.", StringComparison.Ordinal)), buffers);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void BatchNormPostNormMlpTanhBlock_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunBlock<float>("lru_block_batchnorm_post_mlp", tolerance);
        else RunBlock<double>("lru_block_batchnorm_post_mlp", tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void BatchNormPreNormGluBlock_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunBlock<float>("lru_block_batchnorm_pre_glu", tolerance);
        else RunBlock<double>("lru_block_batchnorm_pre_glu", tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void LayerNormPostNormTanhBlock_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunBlock<float>("lru_block_layernorm_post_tanh", tolerance);
        else RunBlock<double>("lru_block_layernorm_post_tanh", tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void TokenModelWithValidLengths_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunTokenModel<float>(tolerance); else RunTokenModel<double>(tolerance);
    }

    private static void RunTokenModel<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("lru_model_tokens");
        int batch = Meta(f, "batch"), length = Meta(f, "length");
        Assert.Equal("mean", f.Metadata["pooling"]);
        Assert.False(f.Contains("grad.input"));
        var config = new SequenceModelConfig(0, Meta(f, "vocabulary"), Meta(f, "outputs"), Meta(f, "layers"), BlockConfig(f), PoolingMode.Mean);
        var model = new SequenceModel<T>(config);
        Load(f, model.NamedParameters());
        int[] tokens = ReadIntegers(f, "input"), lengths = ReadIntegers(f, "lengths");
        Assert.Contains(lengths, l => l < length); // the fixture has padding
        T[] w = Read<T>(f, "loss_weights");
        T[] y = new T[model.OutputSize(batch, length)];
        model.ForwardTokens(tokens, y, batch, length, lengths);
        model.Backward(w);
        Compare.Close<T>(y, f.ReadFloat64("output"), tolerance, "output");
        CheckGradients(f, model.NamedParameters(), tolerance);
    }

    private static bool[] Mask(SafeTensorsFile f) => f.ReadFloat64("mask").Select(v => v switch { 0.0 => false, 1.0 => true, _ => throw new InvalidDataException($"mask {v}") }).ToArray();

    [Theory, MemberData(nameof(Precisions))]
    public void ReverseTimeLruLayer_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunReverse<float>(tolerance); else RunReverse<double>(tolerance);
    }

    /// <summary>The LRU running backwards in time (<see cref="LruConfig.Reverse"/>) against <c>flip(lru(flip(u)))</c>, every gradient.</summary>
    private static void RunReverse<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("lru_reverse");
        int batch = Meta(f, "batch"), length = Meta(f, "length");
        var layer = new LruLayer<T>(new LruConfig(Meta(f, "hidden"), Meta(f, "state"), Reverse: true));
        Load(f, layer.NamedParameters());
        T[] u = Read<T>(f, "input"), w = Read<T>(f, "loss_weights");
        T[] y = new T[u.Length], gradU = new T[u.Length];
        layer.Forward(u, y, batch, length);
        layer.Backward(w, gradU);
        Compare.Close<T>(y, f.ReadFloat64("output"), tolerance, "output");
        Compare.Close<T>(gradU, f.ReadFloat64("grad.input"), tolerance, "grad.input");
        CheckGradients(f, layer.NamedParameters(), tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void MaskedSoftmaxCrossEntropy_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunCrossEntropy<float>(tolerance); else RunCrossEntropy<double>(tolerance);
    }

    private static void RunCrossEntropy<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("loss_cross_entropy");
        int rows = Meta(f, "rows"), classes = Meta(f, "classes");
        T[] logits = Read<T>(f, "logits"), grad = new T[logits.Length];
        bool[] mask = Mask(f);
        int[] targets = ReadIntegers(f, "targets");
        Assert.All(Enumerable.Range(0, rows).Where(r => !mask[r]), r => Assert.Equal(-1, targets[r])); // not read by the library
        grad.AsSpan().Fill(T.CreateChecked(7)); // masked rows must be overwritten with zeros
        var result = SoftmaxCrossEntropy.Compute<T>(logits, targets, grad, rows, classes, mask);
        Compare.Close<double>([result.Loss], f.ReadFloat64("loss"), tolerance, "loss");
        Compare.Close<T>(grad, f.ReadFloat64("grad.logits"), tolerance, "grad.logits");
        Assert.Equal(Meta(f, "counted_rows"), result.Count);
        Assert.Equal(Meta(f, "correct"), result.Correct);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void MaskedMeanSquaredError_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunMeanSquaredError<float>(tolerance); else RunMeanSquaredError<double>(tolerance);
    }

    private static void RunMeanSquaredError<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("loss_mse");
        int rows = Meta(f, "rows"), features = Meta(f, "features");
        T[] predictions = Read<T>(f, "logits"), targets = Read<T>(f, "targets"), grad = new T[predictions.Length];
        grad.AsSpan().Fill(T.CreateChecked(7));
        double loss = MeanSquaredError.Compute<T>(predictions, targets, grad, rows, features, Mask(f));
        Compare.Close<double>([loss], f.ReadFloat64("loss"), tolerance, "loss");
        Compare.Close<T>(grad, f.ReadFloat64("grad.logits"), tolerance, "grad.logits");
    }

    [Theory, MemberData(nameof(Precisions))]
    public void MaskedBinaryCrossEntropy_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunBinaryCrossEntropy<float>(tolerance); else RunBinaryCrossEntropy<double>(tolerance);
    }

    private static void RunBinaryCrossEntropy<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("loss_bce");
        int rows = Meta(f, "rows"), outputs = Meta(f, "outputs");
        T[] logits = Read<T>(f, "logits"), targets = Read<T>(f, "targets"), grad = new T[logits.Length];
        grad.AsSpan().Fill(T.CreateChecked(7));
        var result = BinaryCrossEntropy.Compute<T>(logits, targets, grad, rows, outputs, Mask(f));
        Compare.Close<double>([result.Loss], f.ReadFloat64("loss"), tolerance, "loss");
        Compare.Close<T>(grad, f.ReadFloat64("grad.logits"), tolerance, "grad.logits");
        Assert.Equal(Meta(f, "counted_rows") * outputs, result.Count);
        Assert.Equal(Meta(f, "correct"), result.Correct);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void TwoAdamWStepsWithParameterGroups_MatchPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunAdamW<float>(tolerance); else RunAdamW<double>(tolerance);
    }

    private static void RunAdamW<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("adamw");
        Assert.Equal("constant 1", f.Metadata["schedule"]);
        var lru = new LruLayer<T>(new LruConfig(Meta(f, "hidden"), Meta(f, "state")));
        var linear = new Linear<T>(Meta(f, "linear_in"), Meta(f, "linear_out"));
        var named = lru.NamedParameters().Select(e => ("lru." + e.Name, e.Parameter))
            .Concat(linear.NamedParameters().Select(e => ("linear." + e.Name, e.Parameter))).ToList();
        Load(f, named);
        var settings = new AdamWSettings
        {
            LearningRate = MetaDouble(f, "learning_rate"),
            WeightDecay = MetaDouble(f, "weight_decay"),
            SsmLearningRateFactor = MetaDouble(f, "ssm_learning_rate_factor"),
            Beta1 = MetaDouble(f, "beta1"),
            Beta2 = MetaDouble(f, "beta2"),
            Epsilon = MetaDouble(f, "epsilon"),
        };
        var optimizer = new AdamW<T>(named, settings);

        // The library's default groups are the ones the fixture used.
        string[] Names(string key) => f.Metadata[key].Length == 0 ? [] : f.Metadata[key].Split(',');
        Assert.Equal(Names("group_decay"), optimizer.Groups[0].ParameterNames.ToArray());
        Assert.Equal(Names("group_no_decay"), optimizer.Groups[1].ParameterNames.ToArray());
        Assert.Equal(Names("group_ssm"), optimizer.Groups[2].ParameterNames.ToArray());
        Assert.Equal(MetaDouble(f, "ssm_learning_rate"), optimizer.Groups[2].LearningRate, 15);

        for (int step = 1; step <= 2; step++)
        {
            foreach (var (name, p) in named)
            {
                double[] g = f.ReadFloat64($"grad{step}." + name);
                for (int i = 0; i < g.Length; i++) p.Gradient[i] = T.CreateChecked(g[i]);
            }
            optimizer.Step();
            foreach (var (name, p) in named)
                Compare.Close<T>(p.Value, f.ReadFloat64($"step{step}." + name), tolerance, $"step{step}.{name}");
        }
        foreach (var (name, _) in named)
        {
            Compare.Close(optimizer.FirstMoment(name), f.ReadFloat64("exp_avg." + name), tolerance, "exp_avg." + name);
            Compare.Close(optimizer.SecondMoment(name), f.ReadFloat64("exp_avg_sq." + name), tolerance, "exp_avg_sq." + name);
        }
    }
}
