using System.Globalization;
using System.Numerics.Tensors;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Scans;
using Lru.Tensors;
using Lru.Training;

namespace Lru.Tests;

/// <summary>
/// Every public entry point refuses bad arguments with an exception that names the argument (its
/// <see cref="ArgumentException.ParamName"/>) and whose message gives the value it was given. One case per entry
/// point and kind of mistake: nulls, sizes, span lengths against shapes, out-of-range and NaN hyperparameters,
/// token ids, valid lengths, labels and targets.
/// </summary>
public class ValidationTests
{
    /// <summary>A refusal: what to call, the exception type expected, the argument it must name and a text of the actual value.</summary>
    private sealed record Case(Action Call, Type Exception, string ParamName, string Actual);

    private static Case Refuses<TException>(Action call, string paramName, string actual) where TException : ArgumentException =>
        new(call, typeof(TException), paramName, actual);

    private static readonly LruBlockConfig Block = new(new LruConfig(8, 6, RMin: 0.5, RMax: 0.9));

    private static SequenceModel<float> RealModel(PoolingMode pooling = PoolingMode.Mean) =>
        new(new SequenceModelConfig(3, 0, 2, 1, Block, pooling)) { IsTraining = false };

    private static SequenceModel<float> TokenModel() => new(new SequenceModelConfig(0, 7, 2, 1, Block)) { IsTraining = false };

    private static SequenceDataset<float> Data(int count = 4) =>
        new(count, 5, 3, new float[count * 5 * 3], null, new int[count], null);

    private struct NoOperator : IScanOperator
    {
        public readonly void Combine(int earlier, int later, int laterSpan) { }
    }

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Tensors
        ["TensorSpan.AsFlatSpan(not dense)"] = Refuses<ArgumentException>(
            () => _ = new ReadOnlyTensorSpan<float>(new float[6], [2, 3], [1, 2]).AsFlatSpan("weights"), "weights", "dense"),
        ["Gemm.Multiply(m < 0)"] = Refuses<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(new float[4], new float[4], new float[4], -1, 2, 2), "m", "-1"),
        ["Gemm.Multiply(a too short)"] = Refuses<ArgumentException>(() => Gemm.Multiply<float>(new float[3], new float[4], new float[4], 2, 2, 2), "a", "3"),
        ["Parallelism.MaxThreads = 0"] = Refuses<ArgumentOutOfRangeException>(() => Parallelism.MaxThreads = 0, "value", "0"),
        ["SeededRandom.NextInt(0)"] = Refuses<ArgumentOutOfRangeException>(() => new SeededRandom(1).NextInt(0), "maxExclusive", "0"),

        // Scans
        ["DiagonalRecurrence.Scan(states of another length)"] = Refuses<ArgumentException>(
            () => DiagonalRecurrence.Scan<float>(new float[2], new float[2], new float[7], 1, 2), "states", "7"),
        ["DiagonalRecurrence.Scan(initialState of another length)"] = Refuses<ArgumentException>(
            () => DiagonalRecurrence.Scan<float>(new float[2], new float[2], new float[8], 1, 2, new float[3]), "initialState", "3"),
        ["DiagonalRecurrence.Scan(undefined mode)"] = Refuses<ArgumentOutOfRangeException>(
            () => DiagonalRecurrence.Scan<float>(new float[2], new float[2], new float[8], 1, 2, mode: (ScanMode)9), "mode", "9"),
        ["DiagonalRecurrence.Scan(threads 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => DiagonalRecurrence.Scan<float>(new float[2], new float[2], new float[8], 1, 2, threads: 0), "threads", "0"),
        ["DiagonalRecurrence.ChooseMode(n < 0)"] = Refuses<ArgumentOutOfRangeException>(() => DiagonalRecurrence.ChooseMode(1, 10, -4), "n", "-4"),
        ["TreeScan.InclusiveScan(length < 0)"] = Refuses<ArgumentOutOfRangeException>(() => { var op = new NoOperator(); TreeScan.InclusiveScan(-1, ref op); }, "length", "-1"),

        // Layers
        ["LruConfig(Hidden 0)"] = Refuses<ArgumentOutOfRangeException>(() => new LruConfig(0, 4).Validate(), "Hidden", "0"),
        ["LruConfig(RMin NaN)"] = Refuses<ArgumentOutOfRangeException>(() => new LruConfig(4, 4, RMin: double.NaN).Validate(), "RMin", "NaN"),
        ["LruConfig(RMax ≤ RMin)"] = Refuses<ArgumentOutOfRangeException>(() => new LruConfig(4, 4, RMin: 0.5, RMax: 0.5).Validate(), "RMax", "0.5"),
        ["LruConfig(MaxPhase > 2π)"] = Refuses<ArgumentOutOfRangeException>(() => new LruConfig(4, 4, MaxPhase: 7).Validate(), "MaxPhase", "7"),
        ["LruLayer.Forward(input of another length)"] = Refuses<ArgumentException>(
            () => new LruLayer<float>(new LruConfig(4, 3)).Forward(new float[5], new float[8], 1, 2), "input", "5"),
        ["LruLayer.Forward(initialState of another length)"] = Refuses<ArgumentException>(
            () => new LruLayer<float>(new LruConfig(4, 3)).ForwardWithState(new float[8], new float[8], 1, 2, new float[5]), "initialState", "5"),
        ["LruLayer.Step(state of another layer)"] = Refuses<ArgumentException>(
            () => new LruLayer<float>(new LruConfig(4, 3)).Step(new float[4], new float[4], new LruLayer<float>(new LruConfig(4, 5)).CreateState(1)), "state", "another module"),
        ["LruLayer.CreateState(0)"] = Refuses<ArgumentOutOfRangeException>(() => new LruLayer<float>(new LruConfig(4, 3)).CreateState(0), "batch", "0"),
        ["Linear(inputFeatures 0)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Linear<float>(0, 3), "inputFeatures", "0"),
        ["Linear.Forward(batch < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new Linear<float>(2, 3).Forward(new float[2], new float[3], -1, -1), "batch", "-1"),
        ["Linear.Forward(output of another length)"] = Refuses<ArgumentException>(() => new Linear<float>(2, 3).Forward(new float[2], new float[4], 1, 1), "output", "4"),
        ["LayerNorm(epsilon NaN)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new LayerNorm<float>(4, double.NaN), "epsilon", "NaN"),
        ["BatchNorm(momentum 1.5)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new BatchNorm<float>(4, momentum: 1.5), "momentum", "1.5"),
        ["BatchNorm.Forward in training on one value per feature"] = Refuses<ArgumentException>(
            () => new BatchNorm<float>(4).Forward(new float[4], new float[4], 1, 1), "input", "= 1"),
        ["Dropout(rate 1)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Dropout<float>(4, 1.0), "rate", "1"),
        ["Dropout(rate NaN)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Dropout<float>(4, double.NaN), "rate", "NaN"),
        ["Gelu(undefined approximation)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Gelu<float>(4, (GeluApproximation)5), "approximation", "5"),
        ["Mlp(expansion 0)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Mlp<float>(4, 0), "expansion", "0"),
        ["Glu.Forward(input of another length)"] = Refuses<ArgumentException>(() => new Glu<float>(4).Forward(new float[7], new float[8], 1, 2), "input", "7"),
        ["Embedding.Forward(token = vocabulary)"] = Refuses<ArgumentOutOfRangeException>(() => new Embedding<float>(9, 4).Forward([1, 9], new float[8], 1, 2), "tokens", "9"),
        ["Embedding.Forward(token < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new Embedding<float>(9, 4).Forward([-1, 2], new float[8], 1, 2), "tokens", "-1"),
        ["Parameter(shape: null)"] = Refuses<ArgumentNullException>(() => _ = new Parameter<float>("w", null!), "shape", "shape"),
        ["Parameter(a length 0)"] = Refuses<ArgumentException>(() => _ = new Parameter<float>("w", 2, 0), "shape", "0"),
        ["Parameter(a name with '.')"] = Refuses<ArgumentException>(() => _ = new Parameter<float>("a.b", 2), "name", "a.b"),
        ["Parameter.Assign(values of another length)"] = Refuses<ArgumentException>(() => new Parameter<float>("w", 2, 3).Assign(new float[5]), "values", "5"),
        ["Parameter.Assign(tensor of another shape)"] = Refuses<ArgumentException>(
            () => new Parameter<float>("w", 2, 3).Assign(Tensor.Create(new float[6], [3, 2]).AsReadOnlyTensorSpan()), "values", "(3, 2)"),
        ["Linear.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Linear<float>(4, 4).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["LayerNorm.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new LayerNorm<float>(4).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["BatchNorm.Backward(length < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new BatchNorm<float>(4).Backward(new float[4], new float[4], 1, -1), "length", "-1"),
        ["Gelu.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Gelu<float>(4).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["Dropout.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Dropout<float>(4, 0.1).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["Glu.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Glu<float>(4).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["Mlp.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Mlp<float>(4).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["LruLayer.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(
            () => new LruLayer<float>(new LruConfig(4, 3)).Backward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["Embedding.Backward(batch < 0) before any forward"] = Refuses<ArgumentOutOfRangeException>(() => new Embedding<float>(5, 4).Backward(new float[4], default, -1, -1), "batch", "-1"),
        ["Embedding.Forward(a token id as T that is not an integer)"] = Refuses<ArgumentOutOfRangeException>(
            () => new Embedding<float>(5, 4).Forward([1f, 2.5f], new float[8], 1, 2), "input", "2.5"),
        ["Embedding.Forward(a token id as T beyond the vocabulary)"] = Refuses<ArgumentOutOfRangeException>(
            () => new Embedding<float>(5, 4).Forward([1f, 5f], new float[8], 1, 2), "input", "5"),
        ["BidirectionalLru(undefined combine)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new BidirectionalLru<float>(new LruConfig(4, 3), (BidirectionalCombine)3), "combine", "3"),
        ["BidirectionalLru.Forward(batch < 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => new BidirectionalLru<float>(new LruConfig(4, 3)).Forward(new float[4], new float[4], -1, -1), "batch", "-1"),
        ["DenseToDiagonal.Convert(a not square)"] = Refuses<ArgumentException>(
            () => DenseToDiagonal.Convert<float>(new double[2, 3], new double[2, 1], new double[1, 2], new double[1]), "a", "2 × 3"),

        // Models
        ["SequenceModelConfig(features and vocabulary)"] = Refuses<ArgumentOutOfRangeException>(
            () => new SequenceModelConfig(3, 5, 2, 1, Block).Validate(), "InputFeatures", "3"),
        ["SequenceModelConfig(Outputs 0)"] = Refuses<ArgumentOutOfRangeException>(() => new SequenceModelConfig(3, 0, 0, 1, Block).Validate(), "Outputs", "0"),
        ["SequenceModelConfig(Layers 0)"] = Refuses<ArgumentOutOfRangeException>(() => new SequenceModelConfig(3, 0, 2, 0, Block).Validate(), "Layers", "0"),
        ["LruBlockConfig(DropoutRate 1)"] = Refuses<ArgumentOutOfRangeException>(() => (Block with { DropoutRate = 1 }).Validate(), "DropoutRate", "1"),
        ["LruBlockConfig(undefined DropoutMode)"] = Refuses<ArgumentOutOfRangeException>(() => (Block with { DropoutMode = (DropoutMode)9 }).Validate(), "DropoutMode", "9"),
        ["LruBlockConfig(undefined Gelu)"] = Refuses<ArgumentOutOfRangeException>(() => (Block with { Gelu = (GeluApproximation)9 }).Validate(), "Gelu", "9"),
        ["LruBlockConfig(MlpExpansion 0)"] = Refuses<ArgumentOutOfRangeException>(() => (Block with { MlpExpansion = 0 }).Validate(), "MlpExpansion", "0"),
        ["SequenceModel.Forward(batch < 0)"] = Refuses<ArgumentOutOfRangeException>(() => RealModel().Forward([], [], -1, 2), "batch", "-1"),
        ["SequenceModel.Forward(length 0 with pooling)"] = Refuses<ArgumentOutOfRangeException>(() => RealModel().Forward([], new float[4], 2, 0), "length", "0"),
        ["SequenceModel.Forward(a valid length > L)"] = Refuses<ArgumentOutOfRangeException>(
            () => RealModel().Forward(new float[12], new float[4], 2, 2, [2, 3]), "lengths", "3"),
        ["SequenceModel.Forward(lengths of another count)"] = Refuses<ArgumentException>(
            () => RealModel().Forward(new float[12], new float[4], 2, 2, [2]), "lengths", "1"),
        ["SequenceModel.Forward(input of another length)"] = Refuses<ArgumentException>(() => RealModel().Forward(new float[11], new float[4], 2, 2), "input", "11"),
        ["SequenceModel.Forward(output of another length)"] = Refuses<ArgumentException>(() => RealModel().Forward(new float[12], new float[5], 2, 2), "output", "5"),
        ["SequenceModel.ForwardTokens(token out of the vocabulary)"] = Refuses<ArgumentOutOfRangeException>(
            () => TokenModel().ForwardTokens([1, 7], new float[2], 1, 2), "tokens", "7"),
        ["SequenceModel.ForwardTokens(tokens of another length)"] = Refuses<ArgumentException>(
            () => TokenModel().ForwardTokens([1, 2, 3], new float[2], 1, 2), "tokens", "3"),
        ["SequenceModel.Step(state of another model)"] = Refuses<ArgumentException>(() =>
        {
            var other = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, Block)) { IsTraining = false };
            RealModel().Step(new float[3], new float[2], other.CreateState(1));
        }, "state", "another module (a SequenceModel)"),
        ["SequenceModel.Step(output of another length)"] = Refuses<ArgumentException>(() =>
        {
            var model = RealModel();
            model.Step(new float[3], new float[3], model.CreateState(1));
        }, "output", "3"),
        ["SequenceModel.StepTokens(token out of the vocabulary)"] = Refuses<ArgumentOutOfRangeException>(() =>
        {
            var model = TokenModel();
            model.StepTokens([8], new float[2], model.CreateState(1));
        }, "tokens", "8"),
        ["SequenceModel.CreateState(0)"] = Refuses<ArgumentOutOfRangeException>(() => RealModel().CreateState(0), "batch", "0"),
        ["SequenceModel.OutputSize(batch < 0)"] = Refuses<ArgumentOutOfRangeException>(() => RealModel().OutputSize(-1, 2), "batch", "-1"),
        ["LruBlock.Forward(length < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new LruBlock<float>(Block).Forward([], [], 1, -1), "length", "-1"),
        ["LruBlock.Step(state of another block)"] = Refuses<ArgumentException>(() =>
        {
            var block = new LruBlock<float>(Block) { IsTraining = false };
            block.Step(new float[16], new float[16], new LruBlock<float>(Block).CreateState(2));
        }, "state", "another module (a LruBlock)"),
        ["LruBlock.Step(input of another length)"] = Refuses<ArgumentException>(() =>
        {
            var block = new LruBlock<float>(Block);
            block.Step(new float[7], new float[8], block.CreateState(1));
        }, "input", "7"),
        ["Pooling(undefined mode)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new Pooling<float>((PoolingMode)7, 4), "mode", "7"),
        ["Pooling.OutputSize(length < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new Pooling<float>(PoolingMode.None, 2).OutputSize(1, -3), "length", "-3"),
        ["Pooling.Forward(a valid length 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => new Pooling<float>(PoolingMode.Mean, 2).Forward(new float[8], new float[4], 2, 2, [2, 0]), "lengths", "0"),
        ["Pooling.Backward(gradInput of another length)"] = Refuses<ArgumentException>(() =>
        {
            var pooling = new Pooling<float>(PoolingMode.Last, 2);
            pooling.Forward(new float[8], new float[4], 2, 2);
            pooling.Backward(new float[4], new float[7], 2, 2);
        }, "gradInput", "7"),

        // Modules
        ["Module.Forward(tensor of another rank)"] = Refuses<ArgumentException>(() => new Linear<float>(3, 2).Forward(Tensor.Create(new float[6], [2, 3])), "input", "(2, 3)"),
        ["Module.Forward(tensor of other features)"] = Refuses<ArgumentException>(() => new Linear<float>(3, 2).Forward(Tensor.Create(new float[8], [1, 2, 4])), "input", "(1, 2, 4)"),
        ["Module.Forward(output tensor of another shape)"] = Refuses<ArgumentException>(
            () => new Linear<float>(3, 2).Forward(Tensor.Create(new float[6], [1, 2, 3]).AsReadOnlyTensorSpan(), Tensor.Create(new float[6], [1, 2, 3]).AsTensorSpan()), "output", "(1, 2, 3)"),
        ["Module.Forward(pooled output as three dimensions)"] = Refuses<ArgumentException>(
            () => new Pooling<float>(PoolingMode.Mean, 3).Forward(Tensor.Create(new float[6], [1, 2, 3]).AsReadOnlyTensorSpan(), Tensor.Create(new float[3], [1, 1, 3]).AsTensorSpan()), "output", "(1, 1, 3)"),
        ["Module.Backward(gradOutput tensor of another shape)"] = Refuses<ArgumentException>(() =>
        {
            var linear = new Linear<float>(3, 2);
            linear.Forward(Tensor.Create(new float[6], [1, 2, 3]));
            linear.Backward(Tensor.Create(new float[6], [1, 2, 3]));
        }, "gradOutput", "(1, 2, 3)"),
        ["Module.Step(tensor of another shape)"] = Refuses<ArgumentException>(() =>
        {
            var linear = new Linear<float>(3, 2);
            linear.Step(Tensor.Create(new float[6], [2, 3]).AsReadOnlyTensorSpan(), Tensor.Create(new float[2], [1, 2]).AsTensorSpan(), linear.CreateState(1));
        }, "input", "(2, 3)"),
        ["Module.LoadStateDictionary(a tensor of another shape)"] = Refuses<ArgumentException>(() =>
        {
            var linear = new Linear<float>(3, 2);
            var state = linear.StateDictionary();
            state["weight"] = Tensor.Create(new float[6], [3, 2]);
            linear.LoadStateDictionary(state);
        }, "state", "weight"),
        ["Module.LoadStateDictionary(an unknown name)"] = Refuses<ArgumentException>(() =>
        {
            var linear = new Linear<float>(3, 2);
            var state = linear.StateDictionary();
            state["gain"] = Tensor.Create(new float[2], [2]);
            linear.LoadStateDictionary(state);
        }, "state", "gain"),
        ["Module.LoadStateDictionary(a missing name)"] = Refuses<ArgumentException>(() =>
        {
            var linear = new Linear<float>(3, 2);
            var state = linear.StateDictionary();
            state.Remove("bias");
            linear.LoadStateDictionary(state);
        }, "state", "bias"),
        ["Sequential(widths that do not chain)"] = Refuses<ArgumentException>(() => _ = new Sequential<float>(new Linear<float>(3, 4), new Linear<float>(5, 2)), "module", "gives 4"),
        ["Sequential(a module that already belongs to a tree)"] = Refuses<ArgumentException>(() =>
        {
            var shared = new Linear<float>(4, 4);
            _ = new Sequential<float>(shared);
            _ = new Sequential<float>(shared);
        }, "module", "already belongs"),
        ["Sequential.Add(a name taken)"] = Refuses<ArgumentException>(
            () => new Sequential<float>(("a", new Linear<float>(4, 4))).Add("a", new Linear<float>(4, 4)), "name", "'a'"),
        ["Sequential.Add(a name with '.')"] = Refuses<ArgumentException>(
            () => new Sequential<float>(("a", new Linear<float>(4, 4))).Add("b.c", new Linear<float>(4, 4)), "name", "b.c"),
        ["Residual(a branch that changes the width)"] = Refuses<ArgumentException>(() => _ = new Residual<float>(new Linear<float>(4, 3)), "modules", "gives 3"),
        ["Residual(a branch that pools)"] = Refuses<ArgumentException>(() => _ = new Residual<float>(new Pooling<float>(PoolingMode.Mean, 4)), "module", "pools"),
        ["SequenceShape(lengths of another count)"] = Refuses<ArgumentException>(() => _ = new SequenceShape(2, 3, [1]), "lengths", "1"),

        // Training
        ["SoftmaxCrossEntropy(target ≥ classes)"] = Refuses<ArgumentOutOfRangeException>(
            () => SoftmaxCrossEntropy.Compute<float>(new float[6], [0, 5], default, 2, 3), "targets", "5"),
        ["SoftmaxCrossEntropy(classes 0)"] = Refuses<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Compute<float>([], [], default, 0, 0), "classes", "0"),
        ["SoftmaxCrossEntropy(mask of another length)"] = Refuses<ArgumentException>(
            () => SoftmaxCrossEntropy.Compute<float>(new float[6], [0, 1], default, 2, 3, [true]), "mask", "1"),
        ["BinaryCrossEntropy(target 2)"] = Refuses<ArgumentOutOfRangeException>(() => BinaryCrossEntropy.Compute<float>(new float[2], [0, 2], default, 1, 2), "targets", "2"),
        ["BinaryCrossEntropy(target NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => BinaryCrossEntropy.Compute<float>(new float[2], [float.NaN, 1], default, 1, 2), "targets", "NaN"),
        ["MeanSquaredError(target NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => MeanSquaredError.Compute<float>(new float[2], [1, float.NaN], default, 1, 2), "targets", "NaN"),
        ["MeanSquaredError(features 0)"] = Refuses<ArgumentOutOfRangeException>(() => MeanSquaredError.Compute<float>([], [], default, 1, 0), "features", "0"),
        ["GradientClipping.ClipGlobalNorm(maxNorm NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => GradientClipping.ClipGlobalNorm<float>([new Parameter<float>("w", 2)], double.NaN), "maxNorm", "NaN"),
        ["GradientClipping.ClipGlobalNorm(maxNorm 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => GradientClipping.ClipGlobalNorm<float>([new Parameter<float>("w", 2)], 0), "maxNorm", "0"),
        ["ILoss.Compute(output not a multiple of the rows)"] = Refuses<ArgumentException>(
            () => new SoftmaxCrossEntropy<float>().Compute(new float[5], new LossTargets<float>([0, 1]), default), "output", "5"),
        ["ILoss.Compute(values for a loss of class ids)"] = Refuses<ArgumentException>(
            () => new SoftmaxCrossEntropy<float>().Compute(new float[4], new LossTargets<float>(2, new float[4]), default), "targets", "class ids"),
        ["ConstantSchedule(factor < 0)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new ConstantSchedule(-1), "factor", "-1"),
        ["LinearWarmupCosineSchedule(warmup > total)"] = Refuses<ArgumentOutOfRangeException>(() => _ = new LinearWarmupCosineSchedule(11, 10), "warmupSteps", "11"),
        ["LinearWarmupCosineSchedule(minFactor NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => _ = new LinearWarmupCosineSchedule(1, 10, minFactor: double.NaN), "minFactor", "NaN"),
        ["ILearningRateSchedule.Factor(step < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new LinearWarmupCosineSchedule(1, 10).Factor(-1), "step", "-1"),
        ["AdamWSettings(Beta1 1)"] = Refuses<ArgumentOutOfRangeException>(() => new AdamWSettings { Beta1 = 1 }.Validate(), "Beta1", "1"),
        ["AdamWSettings(Beta2 NaN)"] = Refuses<ArgumentOutOfRangeException>(() => new AdamWSettings { Beta2 = double.NaN }.Validate(), "Beta2", "NaN"),
        ["AdamWSettings(Epsilon 0)"] = Refuses<ArgumentOutOfRangeException>(() => new AdamWSettings { Epsilon = 0 }.Validate(), "Epsilon", "0"),
        ["OptimizerSettings(LearningRate NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => _ = new AdamW<float>([("w", new Parameter<float>("w", 2))], new AdamWSettings { LearningRate = double.NaN }), "LearningRate", "NaN"),
        ["OptimizerSettings(WeightDecay < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new AdamWSettings { WeightDecay = -0.1 }.Validate(), "WeightDecay", "-0.1"),
        ["OptimizerSettings(SsmLearningRate < 0)"] = Refuses<ArgumentOutOfRangeException>(() => new AdamWSettings { SsmLearningRate = -2 }.Validate(), "SsmLearningRate", "-2"),
        ["Optimizer.LoadState(entry of another length)"] = Refuses<ArgumentException>(() =>
        {
            var optimizer = new AdamW<float>([("w", new Parameter<float>("w", 2))], new AdamWSettings());
            optimizer.LoadState(optimizer.State().Select(e => e.Name == "w.exp_avg" ? (e.Name, new float[3]) : e));
        }, "state", "length 3"),
        ["Optimizer.CurrentLearningRate(unknown group)"] = Refuses<ArgumentException>(
            () => new AdamW<float>([("w", new Parameter<float>("w", 2))], new AdamWSettings()).CurrentLearningRate("nope"), "groupName", "'nope'"),
        ["TrainerOptions(BatchSize 0)"] = Refuses<ArgumentOutOfRangeException>(() => new TrainerOptions(BatchSize: 0).Validate(), "BatchSize", "0"),
        ["TrainerOptions(ClipNorm NaN)"] = Refuses<ArgumentOutOfRangeException>(() => new TrainerOptions(ClipNorm: double.NaN).Validate(), "ClipNorm", "NaN"),
        ["Trainer.TrainStep(index ≥ count)"] = Refuses<ArgumentOutOfRangeException>(() => Trainer().TrainStep(Data(), [0, 12]), "indices", "12"),
        ["Trainer.TrainStep(no index)"] = Refuses<ArgumentException>(() => Trainer().TrainStep(Data(), []), "indices", "empty"),
        ["Trainer.Fit(startStep beyond the epoch)"] = Refuses<ArgumentOutOfRangeException>(() => Trainer().Fit(Data(), startStep: 9), "startStep", "9"),
        ["Trainer.Fit(data with other features)"] = Refuses<ArgumentException>(
            () => Trainer().Fit(new SequenceDataset<float>(2, 5, 4, new float[40], null, new int[2], null)), "train", "4 features"),
        ["Trainer.Fit(per-step data for a pooling model)"] = Refuses<ArgumentException>(
            () => Trainer().Fit(new SequenceDataset<float>(2, 5, 3, new float[30], null, new int[10], null, perStep: true)), "train", "per-step"),
        ["Trainer.Fit(values for a classifier)"] = Refuses<ArgumentException>(
            () => Trainer().Fit(new SequenceDataset<float>(2, 5, 3, new float[30], null, null, new float[4], outputs: 2)), "train", "target values"),
        ["SequenceDataset(a valid length 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => _ = new SequenceDataset<float>(2, 5, 3, new float[30], null, new int[2], null, lengths: [5, 0]), "lengths", "0"),
        ["SequenceDataset(input NaN)"] = Refuses<ArgumentException>(() =>
        {
            float[] inputs = new float[30];
            inputs[17] = float.NaN;
            _ = new SequenceDataset<float>(2, 5, 3, inputs, null, new int[2], null);
        }, "inputs", "NaN"),
        ["SequenceDataset(value target infinite)"] = Refuses<ArgumentException>(
            () => _ = new SequenceDataset<float>(2, 5, 3, new float[30], null, null, [1, float.PositiveInfinity]), "valueTargets", "[1]"),
        ["SequenceDataset(inputs of another length)"] = Refuses<ArgumentException>(
            () => _ = new SequenceDataset<float>(2, 5, 3, new float[29], null, new int[2], null), "inputs", "29"),

        // Data
        ["TrainingSettings(WarmupFraction 2)"] = Refuses<ArgumentOutOfRangeException>(
            () => (BuiltInTasks.Get("copy").Defaults with { WarmupFraction = 2 }).Validate(), "WarmupFraction", "2"),
        ["TrainingSettings(BatchSize 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => (BuiltInTasks.Get("copy").Defaults with { BatchSize = 0 }).Validate(), "BatchSize", "0"),
        ["TrainingSettings(LearningRate NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => (BuiltInTasks.Get("copy").Defaults with { LearningRate = double.NaN }).Validate(), "LearningRate", "NaN"),
        ["TrainingSettings(RMin 1)"] = Refuses<ArgumentOutOfRangeException>(() =>
        {
            var defaults = BuiltInTasks.Get("copy").Defaults;
            (defaults with { Block = defaults.Block with { Lru = defaults.Block.Lru with { RMin = 1 } } }).Validate();
        }, "RMin", "1"),
        ["LruBlockConfig(NormEpsilon 0)"] = Refuses<ArgumentOutOfRangeException>(() => (Block with { NormEpsilon = 0 }).Validate(), "NormEpsilon", "0"),
        ["TrainingSettings.Optimizer(totalSteps < 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => BuiltInTasks.Get("copy").Defaults.Optimizer(-1), "totalSteps", "-1"),
        ["BuiltInTask.CreateData(TrainCount 0)"] = Refuses<ArgumentOutOfRangeException>(
            () => BuiltInTasks.Get("copy").CreateData(BuiltInTasks.Get("copy").Defaults with { TrainCount = 0 }), "TrainCount", "0"),
        ["BuiltInTask.CreateData(adding, Length 1)"] = Refuses<ArgumentOutOfRangeException>(
            () => BuiltInTasks.Get("adding").CreateData(BuiltInTasks.Get("adding").Defaults with { Length = 1 }), "Length", "1"),
        ["BuiltInTask.ModelConfig(settings: null)"] = Refuses<ArgumentNullException>(() => BuiltInTasks.Get("listops").ModelConfig(null!), "settings", "settings"),
        ["BuiltInTask.CreateData(settings: null)"] = Refuses<ArgumentNullException>(() => BuiltInTasks.Get("fashion-mnist").CreateData(null!), "settings", "settings"),
        ["BuiltInTasks.Get(unknown)"] = Refuses<ArgumentException>(() => BuiltInTasks.Get("nope"), "name", "nope"),
        ["FashionMnist.Load(trainCount < 0)"] = Refuses<ArgumentOutOfRangeException>(() => FashionMnist.Load("/nonexistent", -1), "trainCount", "-1"),
        ["CopyTaskOptions(Bits 0)"] = Refuses<ArgumentOutOfRangeException>(() => new CopyTaskOptions(Bits: 0).Validate(), "Bits", "0"),
        ["ListOpsOptions(OperatorProbability NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => new ListOpsOptions(OperatorProbability: double.NaN).Validate(), "OperatorProbability", "NaN"),
        ["AddingTask.Generate(length 1)"] = Refuses<ArgumentOutOfRangeException>(() => AddingTask.Generate(4, 1, 0), "length", "1"),

        // IO
        ["NpyArray(shape of another size)"] = Refuses<ArgumentException>(() => _ = new NpyArray(new float[5], 2, 3), "shape", "5"),
        ["SafeTensorData(reserved name)"] = Refuses<ArgumentException>(() => _ = new SafeTensorData("__metadata__", new float[1], 1), "name", "__metadata__"),
        ["SafeTensorsWriter.Write(two tensors of one name)"] = Refuses<ArgumentException>(
            () => SafeTensorsWriter.Write(new MemoryStream(), [new SafeTensorData("x", new float[1], 1), new SafeTensorData("x", new float[1], 1)]), "tensors", "'x'"),
        ["IdxArray.ToFloat32(scale NaN)"] = Refuses<ArgumentOutOfRangeException>(
            () => new IdxArray(IdxDataType.UInt8, [2], new byte[2]).ToFloat32(double.NaN), "scale", "NaN"),
        ["ModelCheckpoint.Save(reserved metadata key)"] = Refuses<ArgumentException>(
            () => ModelCheckpoint.Save(Path.Combine(Path.GetTempPath(), "never-written.safetensors"), RealModel(), null,
                new Dictionary<string, string> { [ModelCheckpoint.FormatKey] = "x" }), "metadata", "lru.format"),
    };

    private static Trainer<float> Trainer()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 1, Block));
        return new Trainer<float>(model, new AdamW<float>(model.NamedParameters(), new AdamWSettings()), new TrainerOptions(1, 2));
    }

    public static TheoryData<string> EntryPoints => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void BadArgument_IsRefused_NamingTheArgument_AndItsValue(string entryPoint)
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            var c = Cases[entryPoint];
            var e = Assert.Throws(c.Exception, c.Call);
            Assert.Equal(c.ParamName, ((ArgumentException)e).ParamName);
            Assert.Contains(c.Actual, e.Message);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }
}
