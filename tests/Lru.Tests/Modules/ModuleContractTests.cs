using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Models;
using Lru.Tensors;
using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.Modules;

/// <summary>What <see cref="Module{T}"/> promises for every module of the library: accumulating input gradients, the tree
/// (names, mode, zeroing, state), weights that are never stale, the tensor overloads, and randomness reseeded by position.</summary>
public class ModuleContractTests
{
    private static readonly LruBlockConfig Block = new(new LruConfig(6, 5, RMin: 0.5, RMax: 0.95));

    /// <summary>Every kind of module of the library, in double, with its input width.</summary>
    public static TheoryData<string> Modules =>
    [
        "LruLayer", "LruLayer reverse", "LruLayer matrix D", "Linear", "LayerNorm", "BatchNorm", "Gelu", "Dropout", "Glu", "Mlp",
        "BidirectionalLru sum", "BidirectionalLru project", "Pooling mean", "Pooling last", "Pooling none", "LruBlock pre", "LruBlock post BatchNorm",
        "Sequential", "Residual", "SequenceModel", "LogSoftmax", "SequenceModel log_softmax",
    ];

    private static Module<double> Make(string name) => name switch
    {
        "LruLayer" => new LruLayer<double>(new LruConfig(6, 5), 1),
        "LruLayer reverse" => new LruLayer<double>(new LruConfig(6, 5, Reverse: true), 1),
        "LruLayer matrix D" => new LruLayer<double>(new LruConfig(6, 5, MatrixD: true), 1),
        "Linear" => new Linear<double>(6, 4, 1),
        "LayerNorm" => new LayerNorm<double>(6),
        "BatchNorm" => new BatchNorm<double>(6),
        "Gelu" => new Gelu<double>(6),
        "Dropout" => new Dropout<double>(6, 0.3, DropoutMode.PerElement, 2),
        "Glu" => new Glu<double>(6, 1),
        "Mlp" => new Mlp<double>(6, 2, seed: 1),
        "BidirectionalLru sum" => new BidirectionalLru<double>(new LruConfig(6, 5), seed: 1),
        "BidirectionalLru project" => new BidirectionalLru<double>(new LruConfig(6, 5), BidirectionalCombine.ConcatProject, 1),
        "Pooling mean" => new Pooling<double>(PoolingMode.Mean, 6),
        "Pooling last" => new Pooling<double>(PoolingMode.Last, 6),
        "Pooling none" => new Pooling<double>(PoolingMode.None, 6),
        "LruBlock pre" => new LruBlock<double>(Block with { DropoutRate = 0.2 }, 1),
        "LruBlock post BatchNorm" => new LruBlock<double>(Block with { Norm = NormKind.BatchNorm, Placement = NormPlacement.Post, Mixer = MixerKind.Mlp }, 1),
        "Sequential" => new Sequential<double>(new Linear<double>(6, 6, 1), new Gelu<double>(6), new Linear<double>(6, 3, 2)),
        "Residual" => new Residual<double>(new Linear<double>(6, 6, 1), new Gelu<double>(6)),
        "SequenceModel" => new SequenceModel<double>(new SequenceModelConfig(6, 0, 3, 2, Block with { DropoutRate = 0.2 }), 1),
        "LogSoftmax" => new LogSoftmax<double>(6),
        "SequenceModel log_softmax" => new SequenceModel<double>(new SequenceModelConfig(6, 0, 3, 2, Block, PoolingMode.None, LogSoftmax: true), 1),
        _ => throw new ArgumentException(name),
    };

    /// <summary>
    /// A fresh module of that name, a training forward of random x (B = 3, L = 4), then one backward of random ∂y into
    /// zeros with the parameter gradients zeroed first: the module, x, ∂y, that ∂x and the parameter gradients it gave.
    /// </summary>
    private static (Module<double> Module, double[] X, double[] GradY, double[] GradX, double[][] ParameterGradients) ForwardAndBackwardIntoZeros(string name)
    {
        var module = Make(name);
        const int batch = 3, length = 4;
        double[] x = Compare.Random(batch * length * module.InputFeatures, 1);
        double[] gy = Compare.Random(module.OutputSize(batch, length), 2);
        module.ReseedRandomness(5);
        module.Forward(x, new double[gy.Length], batch, length);
        module.ZeroGradients();
        double[] fromZero = new double[x.Length];
        module.Backward(gy, fromZero);
        return (module, x, gy, fromZero, module.NamedParameters().Select(p => p.Parameter.Gradient.ToArray()).ToArray());
    }

    /// <summary>
    /// After a second backward pass every parameter gradient is twice the first pass's. The second pass adds its sums onto
    /// the first's, so this holds to rounding, normwise over the whole tree: a gradient that is 0 in exact arithmetic (the
    /// bias before a post-norm BatchNorm) is rounding noise.
    /// </summary>
    private static void AssertParameterGradientsAreTwice(Module<double> module, double[][] once)
    {
        var named = module.NamedParameters().ToArray();
        double scale = once.SelectMany(g => g).Select(Math.Abs).DefaultIfEmpty(0).Max();
        for (int j = 0; j < named.Length; j++)
            for (int i = 0; i < once[j].Length; i++)
                Assert.True(Math.Abs(named[j].Parameter.Gradient[i] - 2 * once[j][i]) <= 1e-12 * scale, $"{named[j].Name}[{i}]");
    }

    [Theory, MemberData(nameof(Modules))]
    public void Backward_AddsTheInputGradientToWhatIsThere(string name)
    {
        // The same forward pass, then two backward passes: into zeros and into a buffer holding c. The second must be c + the first,
        // and the parameter gradients of the second pass must equal the first's added once more.
        var (module, x, gy, fromZero, once) = ForwardAndBackwardIntoZeros(name);
        double[] c = Compare.Random(x.Length, 3), onTop = (double[])c.Clone();
        module.Backward(gy, onTop);
        for (int i = 0; i < x.Length; i++) Assert.Equal(c[i] + fromZero[i], onTop[i], 1e-12);
        AssertParameterGradientsAreTwice(module, once);
        Assert.Contains(fromZero, v => v != 0); // every module here passes a gradient to its input
    }

    /// <summary>
    /// Containers pass their intermediate gradients with the internal replacing backward (no zeroing pass): into a buffer of
    /// NaNs it must write exactly what <see cref="Module{T}.Backward(ReadOnlySpan{T}, Span{T})"/> adds to zeros, every
    /// element of it, and add the same parameter gradients.
    /// </summary>
    [Theory, MemberData(nameof(Modules))]
    public void ReplacingBackward_WritesWhatBackwardAddsToZeros(string name)
    {
        var (module, x, gy, fromZero, once) = ForwardAndBackwardIntoZeros(name);
        double[] replaced = Enumerable.Repeat(double.NaN, x.Length).ToArray();
        module.BackwardReplacing(gy, replaced);
        for (int i = 0; i < x.Length; i++) Assert.True(fromZero[i] == replaced[i], $"∂x[{i}]: {fromZero[i]} vs {replaced[i]}");
        AssertParameterGradientsAreTwice(module, once);
    }

    /// <summary>A container written outside the library that changes the backward pass: ∂x gets 0.5·x added (as from a penalty ¼‖x‖²).</summary>
    private sealed class PenalisedSequential(params Module<double>[] modules) : Sequential<double>(modules)
    {
        private double[] _x = [];

        protected override void ForwardCore(ReadOnlySpan<double> input, Span<double> output, in SequenceShape shape, bool training)
        {
            if (training) input.CopyTo(Grow(ref _x, input.Length));
            base.ForwardCore(input, output, shape, training);
        }

        protected override void BackwardCore(ReadOnlySpan<double> gradOutput, Span<double> gradInput, in SequenceShape shape)
        {
            base.BackwardCore(gradOutput, gradInput, shape);
            if (!gradInput.IsEmpty) TensorPrimitives.MultiplyAdd(_x.AsSpan(0, gradInput.Length), 0.5, gradInput, gradInput);
        }
    }

    [Fact]
    public void ReplacingBackward_OfAUserSubclassOfSequential_RunsItsOwnBackward()
    {
        var inner = new PenalisedSequential(new Linear<double>(6, 6, 1), new Gelu<double>(6));
        var outer = new Sequential<double>(new Linear<double>(6, 6, 2), inner, new Linear<double>(6, 3, 3));
        const int batch = 2, length = 3;
        double[] x = Compare.Random(batch * length * 6, 1), gy = Compare.Random(batch * length * 3, 2);
        outer.Forward(x, new double[gy.Length], batch, length);
        double[] gradBetween = Compare.Random(batch * length * 6, 4);
        // The inner container's input gradient, added to zeros and written over NaNs.
        double[] fromZero = new double[gradBetween.Length], replaced = Enumerable.Repeat(double.NaN, gradBetween.Length).ToArray();
        inner.Backward(gradBetween, fromZero);
        inner.BackwardReplacing(gradBetween, replaced);
        Assert.Equal(fromZero, replaced); // the library's own replacing path would leave out the 0.5·x term
    }

    [Theory]
    [InlineData(NormPlacement.Pre, false)]
    [InlineData(NormPlacement.Post, true)]
    public void ReplacingBackward_OfAFloatBlock_WritesWhatBackwardAddsToZeros(NormPlacement placement, bool residual)
    {
        // Float runs the AVX-512 GELU kernels' float path (vectors of 16 and a tail: H = 20).
        var block = new LruBlock<float>(new LruBlockConfig(new LruConfig(20, 8)) { Placement = placement, Residual = residual }, 3);
        const int batch = 2, length = 5;
        float[] x = Compare.Random(batch * length * 20, 1).Select(v => (float)v).ToArray();
        float[] gy = Compare.Random(x.Length, 2).Select(v => (float)v).ToArray();
        block.Forward(x, new float[x.Length], batch, length);
        float[] fromZero = new float[x.Length], replaced = Enumerable.Repeat(float.NaN, x.Length).ToArray();
        block.Backward(gy, fromZero);
        block.BackwardReplacing(gy, replaced);
        for (int i = 0; i < x.Length; i++) Assert.True(fromZero[i] == replaced[i], $"∂x[{i}]: {fromZero[i]} vs {replaced[i]}");
    }

    [Theory, MemberData(nameof(Modules))]
    public void TensorOverloads_EqualTheSpanCalls(string name)
    {
        var module = Make(name);
        const int batch = 2, length = 3;
        double[] x = Compare.Random(batch * length * module.InputFeatures, 1);
        double[] gy = Compare.Random(module.OutputSize(batch, length), 2), y = new double[gy.Length], gx = new double[x.Length];
        module.ReseedRandomness(5);
        module.Forward(x, y, batch, length);
        module.Backward(gy, gx);

        module.ReseedRandomness(5);
        Tensor<double> output = module.Forward(Tensor.Create((double[])x.Clone(), [batch, length, module.InputFeatures]));
        nint[] expectedShape = module.ReducesTime ? [batch, module.OutputFeatures] : [batch, length, module.OutputFeatures];
        Assert.Equal(expectedShape, output.Lengths.ToArray());
        var gradInput = Tensor.CreateFromShape<double>([batch, length, module.InputFeatures]);
        module.Backward(Tensor.Create((double[])gy.Clone(), expectedShape), gradInput);
        Assert.Equal([(nint)batch, length, module.InputFeatures], gradInput.Lengths.ToArray());
        double[] flat = new double[y.Length];
        output.FlattenTo(flat);
        Assert.Equal(y, flat);
        flat = new double[gx.Length];
        gradInput.FlattenTo(flat);
        Assert.Equal(gx, flat);
    }

    [Fact]
    public void LruLayerStateOverloads_AndTokenModels_TakeTensorsToo()
    {
        const int batch = 2, length = 5, h = 4, n = 3;
        var layer = new LruLayer<double>(new LruConfig(h, n), 1);
        double[] u = Compare.Random(batch * length * h, 1), x0 = Compare.Random(batch * 2 * n, 2), g = Compare.Random(u.Length, 3);
        double[] y = new double[u.Length], xL = new double[x0.Length], gu = new double[u.Length], gx0 = new double[x0.Length];
        layer.ForwardWithState(u, y, batch, length, x0, xL);
        layer.BackwardWithState(g, gu, batch, length, gx0);
        var (ty, txL, tgu, tgx0) = (Tensor.CreateFromShape<double>([batch, length, h]), Tensor.CreateFromShape<double>([batch, 2 * n]),
            Tensor.CreateFromShape<double>([batch, length, h]), Tensor.CreateFromShape<double>([batch, 2 * n]));
        layer.ZeroGradients();
        layer.ForwardWithState(Tensor.Create(u, [batch, length, h]).AsReadOnlyTensorSpan(), ty.AsTensorSpan(),
            Tensor.Create(x0, [batch, 2 * n]).AsReadOnlyTensorSpan(), txL.AsTensorSpan());
        layer.BackwardWithState(Tensor.Create(g, [batch, length, h]).AsReadOnlyTensorSpan(), tgu.AsTensorSpan(), tgx0.AsTensorSpan());
        Assert.Equal(y, ty.ToArray());
        Assert.Equal(xL, txL.ToArray());
        Assert.Equal(gu, tgu.ToArray());
        Assert.Equal(gx0, tgx0.ToArray());
        Assert.Equal("initialState", Assert.Throws<ArgumentException>(() => layer.ForwardWithState(Tensor.Create(u, [batch, length, h]).AsReadOnlyTensorSpan(), ty.AsTensorSpan(),
            Tensor.Create(x0, [2 * n, batch]).AsReadOnlyTensorSpan(), default)).ParamName);

        var model = new SequenceModel<float>(new SequenceModelConfig(0, 9, 2, 1, Block), seed: 1) { IsTraining = false };
        int[] tokens = [1, 2, 3, 8, 0, 4, 4, 5];
        float[] expected = new float[2 * 2];
        model.ForwardTokens(tokens, expected, 2, 4, [4, 3]);
        Assert.Equal(expected, model.ForwardTokens(Tensor.Create(tokens, [2, 4]), [4, 3]).ToArray());
    }

    [Fact]
    public void ATrainingForwardThatThrows_LeavesNoShapeForABackwardPass()
    {
        // A (1, 1) training pass fails inside BatchNorm (one value per feature); the backward pass must not then run on the
        // caches of the pass before it.
        var model = new Sequential<float>(new Linear<float>(3, 4, 1), new BatchNorm<float>(4));
        model.Forward(new float[2 * 3 * 3], new float[2 * 3 * 4], 2, 3);
        Assert.Throws<ArgumentException>(() => model.Forward(new float[3], new float[4], 1, 1));
        Assert.Contains("training-mode Forward first", Assert.Throws<InvalidOperationException>(() => model.Backward(new float[4])).Message);
        model.Forward(new float[2 * 3 * 3], new float[2 * 3 * 4], 2, 3);
        model.Backward(new float[2 * 3 * 4]); // a completed pass is usable again
    }

    [Fact]
    public void Backward_RefusesAGradInputThatOverlapsGradOutput()
    {
        var linear = new Linear<float>(4, 4, 1);
        float[] x = new float[8], g = new float[8];
        linear.Forward(x, new float[8], 2, 1);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => linear.Backward(g, g)).ParamName);
        var lru = new LruLayer<float>(new LruConfig(4, 3), 1);
        lru.Forward(x, new float[8], 2, 1);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => lru.BackwardWithState(g, g, 2, 1, default)).ParamName);
        // A shape other than the last training forward's is an InvalidOperationException, even with spans sized for it.
        Assert.Throws<InvalidOperationException>(() => lru.BackwardWithState(g, new float[8], 1, 2, default));
    }

    [Fact]
    public void FixedContainers_RefuseNewModules_AndAStateRefusesAContainerThatGrew()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 1, Block));
        Assert.Throws<InvalidOperationException>(() => model.Add("extra", new Linear<float>(2, 2)));
        Assert.Throws<InvalidOperationException>(() => ((Sequential<float>)model[1]).Add(new LruBlock<float>(Block)));
        Assert.Throws<InvalidOperationException>(() => new Mlp<float>(4).Add(new Gelu<float>(4)));

        var open = new Sequential<float>(("a", new Linear<float>(3, 3, 1)));
        var state = open.CreateState(1);
        open.Add("b", new Gelu<float>(3));
        Assert.Contains("create a new state", Assert.Throws<InvalidOperationException>(() => open.Step(new float[3], new float[3], state)).Message);
    }

    [Fact]
    public void LoadStateDictionary_ReadsStridedAndBroadcastTensors()
    {
        var linear = new Linear<float>(3, 2, 1);
        var state = linear.StateDictionary();
        state["bias"] = Tensor.Create(new float[] { 0.5f }, [2], [0]);                       // one value broadcast to (2)
        state["weight"] = Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3], [1, 2]);    // column-major (2, 3)
        linear.LoadStateDictionary(state);
        Assert.Equal([0.5f, 0.5f], linear.Bias!.Value.ToArray());
        Assert.Equal([1f, 3, 5, 2, 4, 6], linear.Weight.Value.ToArray());
    }

    [Fact]
    public void TheInitialStateGradient_Accumulates_LikeEveryInputGradient()
    {
        var layer = new LruLayer<double>(new LruConfig(3, 2), 1);
        double[] u = Compare.Random(2 * 4 * 3, 1), x0 = Compare.Random(2 * 4, 2), g = Compare.Random(u.Length, 3);
        layer.ForwardWithState(u, new double[u.Length], 2, 4, x0);
        double[] once = new double[x0.Length], twice = new double[x0.Length];
        layer.BackwardWithState(g, default, 2, 4, once);
        layer.BackwardWithState(g, default, 2, 4, twice);
        layer.BackwardWithState(g, default, 2, 4, twice);
        Assert.Contains(once, v => v != 0);
        Assert.Equal(once.Select(v => 2 * v).ToArray(), twice);
    }

    [Fact]
    public void BidirectionalLru_KeepsPaddingOutOfTheValidSteps_AndItsGradientsMatchFiniteDifferences()
    {
        const int batch = 2, length = 6, h = 3;
        int[] lengths = [6, 3];
        var layer = new BidirectionalLru<double>(new LruConfig(h, 4, RMin: 0.5, RMax: 0.9), BidirectionalCombine.ConcatProject, 1) { IsTraining = false };
        double[] x = Compare.Random(batch * length * h, 1), y1 = new double[x.Length], y2 = new double[x.Length];
        layer.Forward(x, y1, batch, length, lengths);
        for (int i = (length + 3) * h; i < 2 * length * h; i++) x[i] += 10; // the second sequence's padded steps
        layer.Forward(x, y2, batch, length, lengths);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < lengths[b] * h; i++) Assert.Equal(y1[b * length * h + i], y2[b * length * h + i]);
        GradientCheck.Layer(layer, batch, length, seed: 5, lengths: lengths);
    }

    [Fact]
    public void IsTraining_ReachesEveryModuleOfTheTree()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block with { DropoutRate = 0.1 }));
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.IsTraining, m.Name));
        model.IsTraining = false;
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.IsTraining, m.Name));
        Assert.Contains(model.NamedModules(), m => m.Name == "blocks.1.dropout2" && m.Module is Dropout<float>);
    }

    [Fact]
    public void ZeroGradients_ClearsEveryParameterOfTheTree()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block));
        float[] x = Compare.Cast<float>(Compare.Random(2 * 4 * 3, 1));
        model.Forward(x, new float[4], 2, 4);
        model.Backward([1, 2, 3, 4]);
        Assert.Contains(model.NamedParameters(), p => p.Parameter.Gradient.ContainsAnyExcept(0f));
        model.ZeroGradients();
        Assert.All(model.NamedParameters(), p => Assert.False(p.Parameter.Gradient.ContainsAnyExcept(0f), p.Name));
    }

    [Fact]
    public void AssignedWeights_AreNeverStale_ForTheForwardPassOrTheStep()
    {
        // Forward and step once (which builds the derived λ, W_in, W_out and the step's panels), then assign new values: the
        // next calls must use them, exactly as a layer built with those values from the start.
        var config = new LruConfig(4, 3);
        var layer = new LruLayer<float>(config, seed: 1) { IsTraining = false };
        var fresh = new LruLayer<float>(config, seed: 2) { IsTraining = false };
        float[] u = Compare.Cast<float>(Compare.Random(2 * 5 * 4, 3)), y = new float[u.Length], expected = new float[u.Length];
        layer.Forward(u, y, 2, 5);
        var state = layer.CreateState(2);
        layer.Step(u.AsSpan(0, 8), y.AsSpan(0, 8), state);
        foreach (var (name, p) in layer.NamedParameters()) p.Assign(fresh.NamedParameters().Single(q => q.Name == name).Parameter.Value);
        layer.Forward(u, y, 2, 5);
        fresh.Forward(u, expected, 2, 5);
        Assert.Equal(expected, y);
        float[] stepped = new float[8], freshStepped = new float[8];
        layer.Step(u.AsSpan(0, 8), stepped, layer.CreateState(2));
        fresh.Step(u.AsSpan(0, 8), freshStepped, fresh.CreateState(2));
        Assert.Equal(freshStepped, stepped);

        // Linear's few-row panels likewise.
        var linear = new Linear<float>(4, 3, seed: 1);
        float[] row = [1, 2, 3, 4], before = new float[3], after = new float[3];
        linear.Forward(row, before, 1, 1);
        linear.Weight.Assign(new float[12]);
        linear.Forward(row, after, 1, 1);
        Assert.Equal(linear.Bias!.Value.ToArray(), after);
    }

    [Fact]
    public void StateDictionary_RoundTrips_IntoAFreshTree()
    {
        var a = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block with { Norm = NormKind.BatchNorm }), seed: 1);
        float[] x = Compare.Cast<float>(Compare.Random(2 * 4 * 3, 1));
        a.Forward(x, new float[4], 2, 4); // moves the running statistics
        var state = a.StateDictionary();
        Assert.Equal(a.NamedParameters().Count() + a.NamedBuffers().Count(), state.Count);
        var b = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block with { Norm = NormKind.BatchNorm }), seed: 2);
        b.LoadStateDictionary(state);
        a.IsTraining = b.IsTraining = false;
        float[] ya = new float[4], yb = new float[4];
        a.Forward(x, ya, 2, 4);
        b.Forward(x, yb, 2, 4);
        Assert.Equal(ya, yb);
    }

    [Fact]
    public void ReseedRandomness_GivesEveryDropoutTheSeedOfItsPosition()
    {
        // Dropout k in depth-first order draws from Combine(seed, k): blocks.i.dropout1 is 2i, blocks.i.dropout2 is 2i + 1.
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block with { DropoutRate = 0.5 }), seed: 1);
        model.ReseedRandomness(77);
        model.Forward(Compare.Cast<float>(Compare.Random(2 * 4 * 3, 1)), new float[4], 2, 4);
        var dropouts = model.NamedModules().Where(m => m.Module is Dropout<float>).ToArray();
        Assert.Equal(["blocks.0.dropout1", "blocks.0.dropout2", "blocks.1.dropout1", "blocks.1.dropout2"], dropouts.Select(d => d.Name));
        for (int k = 0; k < dropouts.Length; k++)
        {
            var alone = new Dropout<float>(6, 0.5);
            alone.Reseed(SeededRandom.Combine(77, k));
            alone.Forward(new float[2 * 4 * 6], new float[2 * 4 * 6], 2, 4);
            Assert.Equal(alone.Mask.ToArray(), ((Dropout<float>)dropouts[k].Module).Mask.ToArray());
        }
    }

    [Fact]
    public void AModuleBelongsToOnePlace_AndTreesHaveNoCycles()
    {
        var gelu = new Gelu<float>(4);
        var first = new Sequential<float>(("a", gelu));
        Assert.Contains("already belongs to another module", Assert.Throws<ArgumentException>(() => new Sequential<float>(("b", gelu))).Message);
        Assert.Contains("already belongs", Assert.Throws<ArgumentException>(() => first.Add("again", gelu)).Message);
        Assert.Contains("no cycles", Assert.Throws<ArgumentException>(() => first.Add("self", first)).Message);
    }

    [Fact]
    public void UserModuleTree_SavesAndLoadsInto_AFreshTree_InFloatAndDouble()
    {
        string dir = Directory.CreateTempSubdirectory("lru-tree-").FullName;
        try
        {
            static Sequential<T> Tree<T>(long seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => new(
                ("encoder", new Linear<T>(3, 6, seed)),
                ("conv", new CausalDepthwiseConv<T>(6, 2, seed + 1)),
                ("block", new LruBlock<T>(Block with { Norm = NormKind.BatchNorm }, seed + 2)),
                ("decoder", new Linear<T>(6, 2, seed + 3)));
            foreach (bool inDouble in new[] { false, true })
            {
                string path = Path.Combine(dir, inDouble ? "tree64.safetensors" : "tree32.safetensors");
                double[] x = Compare.Random(2 * 4 * 3, 1);
                double[] expected = inDouble ? SaveAndRun<double>() : SaveAndRun<float>();
                double[] actual = inDouble ? LoadAndRun<double>() : LoadAndRun<float>();
                Assert.Equal(expected, actual);

                double[] SaveAndRun<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
                {
                    var tree = Tree<T>(1);
                    tree.Forward(Compare.Cast<T>(x), new T[2 * 4 * 2], 2, 4); // running statistics move
                    ModelCheckpoint.Save(path, tree);
                    tree.IsTraining = false;
                    T[] y = new T[2 * 4 * 2];
                    tree.Forward(Compare.Cast<T>(x), y, 2, 4);
                    return Compare.ToDouble<T>(y);
                }

                double[] LoadAndRun<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
                {
                    var tree = Tree<T>(9);
                    ModelCheckpoint.LoadInto(path, tree);
                    tree.IsTraining = false;
                    T[] y = new T[2 * 4 * 2];
                    tree.Forward(Compare.Cast<T>(x), y, 2, 4);
                    return Compare.ToDouble<T>(y);
                }
            }
            // A tree that is not a SequenceModel has no configuration in the file: Load explains what to do.
            var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(Path.Combine(dir, "tree32.safetensors")));
            Assert.Contains("LoadInto", e.Message);
            // A tree of another structure is refused, naming the tensor.
            var other = new Sequential<float>(("encoder", new Linear<float>(3, 6)), ("decoder", new Linear<float>(6, 2)));
            Assert.Contains("'conv.weight' is not part of this Sequential",
                Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadInto(Path.Combine(dir, "tree32.safetensors"), other)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
