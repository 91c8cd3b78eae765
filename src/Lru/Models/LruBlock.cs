using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;
using Lru.Layers;
using Lru.Modules;

namespace Lru.Models;

/// <summary>
/// One LRU block (LRU-MATH §2, the paper's Figure 1; the JAX reference's <c>SequenceLayer</c>):
/// <code>
/// pre-norm:  z = Norm(x); z = LRU(z); z = Dropout(GELU(z)); z = Mixer(z); z = Dropout(z); y = x + z
/// post-norm: z = LRU(x);  …same…;                                                          y = Norm(x + z)
/// </code>
/// Input and output are (B, L, H). Without the residual, <c>y = z</c> (pre-norm) or <c>Norm(z)</c> (post-norm).
/// </summary>
/// <remarks>
/// Children (and so parameter names): <c>norm</c>, <c>lru</c> (the LRU's eight, or <c>lru.forward.*</c>,
/// <c>lru.backward.*</c>, <c>lru.projection.*</c> when bidirectional), <c>activation</c>, <c>dropout1</c> and
/// <c>dropout2</c> (when the rate is positive), and <c>glu</c> (<c>glu.out1.*</c>, <c>glu.out2.*</c>) or <c>mlp</c>
/// (<c>mlp.fc1.*</c>, <c>mlp.fc2.*</c>). The block writes only the wiring; each child keeps what its backward pass
/// needs, the activations between children of a forward pass come from the block's work-space pool, and the
/// backward pass lets every child write its input gradient into the buffer that is the previous child's output gradient
/// (and the skip add ∂y to ∂x).
/// It can stream unless its LRU is bidirectional; evaluation-mode calls may run on several threads at once, training is
/// single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class LruBlock<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _g1 = [], _g2 = [], _g3 = [];

    /// <summary>Builds a block; every child draws from its own seed derived from <paramref name="seed"/>.</summary>
    /// <param name="config">The block's settings.</param>
    /// <param name="seed">The seed of the initialisation and of the dropout masks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="LruBlockConfig.Validate"/>).</exception>
    public LruBlock(LruBlockConfig config, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int h = config.Hidden;
        Norm = RegisterModule<Normalization<T>>("norm", config.Norm == NormKind.LayerNorm
            ? new LayerNorm<T>(h, config.NormEpsilon)
            : new BatchNorm<T>(h, epsilon: config.NormEpsilon));
        Lru = RegisterModule<Module<T>>("lru", config.Bidirectional
            ? new BidirectionalLru<T>(config.Lru, config.Combine, seed * 16 + 1)
            : new LruLayer<T>(config.Lru, seed * 16 + 1));
        Activation = RegisterModule("activation", new Gelu<T>(h, config.Gelu));
        if (config.DropoutRate > 0) Dropout1 = RegisterModule("dropout1", new Dropout<T>(h, config.DropoutRate, config.DropoutMode, seed * 16 + 7));
        Mixer = config.Mixer == MixerKind.Glu
            ? RegisterModule<Module<T>>("glu", new Glu<T>(h, seed * 16 + 4))
            : RegisterModule<Module<T>>("mlp", new Mlp<T>(h, config.MlpExpansion, config.Gelu, seed * 16 + 4));
        if (config.DropoutRate > 0) Dropout2 = RegisterModule("dropout2", new Dropout<T>(h, config.DropoutRate, config.DropoutMode, seed * 16 + 8));
    }

    /// <summary>The block's settings.</summary>
    public LruBlockConfig Config { get; }

    /// <summary>The normalisation (a <see cref="LayerNorm{T}"/> or <see cref="BatchNorm{T}"/>).</summary>
    public Normalization<T> Norm { get; }

    /// <summary>The recurrence: an <see cref="LruLayer{T}"/>, or a <see cref="BidirectionalLru{T}"/>.</summary>
    public Module<T> Lru { get; }

    /// <summary>The GELU after the LRU.</summary>
    public Gelu<T> Activation { get; }

    /// <summary>The GLU or MLP.</summary>
    public Module<T> Mixer { get; }

    /// <summary>Dropout after the GELU, or null when the rate is 0.</summary>
    public Dropout<T>? Dropout1 { get; }

    /// <summary>Dropout after the mixer, or null when the rate is 0.</summary>
    public Dropout<T>? Dropout2 { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Config.Hidden;

    /// <inheritdoc/>
    public override int OutputFeatures => Config.Hidden;

    /// <summary>True when every child can stream (the LRU is not bidirectional).</summary>
    public override bool CanStream => Lru.CanStream && Norm.CanStream && Mixer.CanStream;

    /// <inheritdoc/>
    protected override bool StreamsWhenChildrenDo => true;

    /// <summary>
    /// The block's wiring (see the class summary), through work space a, b, c, then d (post-norm) and e (second dropout,
    /// training only). An evaluation pass of a shape that pays runs it chunk by chunk of time steps per sequence (see
    /// <see cref="ChunkedEvaluation"/>), with the same values.
    /// </summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        if (!training && ChunkedEvaluation.Pays(shape, Parallelism.MaxThreads) && EvaluatesInChunks(shape.Batch, shape.Length))
        {
            using var carry = RentWorkspace(checked(shape.Batch * ChunkState));
            var body = new ChunkRun { Block = this };
            ChunkedEvaluation.Run(ref body, input, output, carry.Span, shape, Config.Hidden, Config.Hidden, ChunkState, ChunkedEvaluation.Rows<T>(Config.Hidden));
            return;
        }
        Wire(input, output, shape, training, default, first: false, chunk: false);
    }

    /// <summary>When the LRU can go chunk by chunk at this shape and the norm, activation and mixer work row by row.</summary>
    internal override bool EvaluatesInChunks(int batch, int length) =>
        Lru.EvaluatesInChunks(batch, length) && RowWise(Norm, batch, length) && RowWise(Activation, batch, length) && RowWise(Mixer, batch, length);

    private static bool RowWise(Module<T> module, int batch, int length) => module.ChunkState == 0 && module.EvaluatesInChunks(batch, length);

    /// <summary>The LRU's state.</summary>
    internal override int ChunkState => Lru.ChunkState;

    /// <summary>The wiring on one chunk, the LRU continuing from <paramref name="carry"/>.</summary>
    internal override void ForwardChunk(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first) =>
        Wire(input, output, new SequenceShape(1, rows), training: false, carry, first, chunk: true);

    private struct ChunkRun : IChunkBody<T>
    {
        public LruBlock<T> Block;

        public readonly void Run(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first) =>
            Block.ForwardChunk(input, output, rows, carry, first);
    }

    /// <summary>The wiring over <paramref name="shape"/>; for one chunk (<paramref name="chunk"/>) the LRU goes through <see cref="Module{T}.ForwardChunk"/>.</summary>
    private void Wire(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training, Span<T> carry, bool first, bool chunk)
    {
        int count = input.Length;
        bool pre = Config.Placement == NormPlacement.Pre;
        // Dropout is the identity in evaluation mode: skipped there rather than copied through.
        Dropout<T>? dropout1 = training ? Dropout1 : null, dropout2 = training ? Dropout2 : null;
        int buffers = 3 + (pre ? 0 : 1) + (dropout2 is null ? 0 : 1);
        using var work = RentWorkspace(checked(buffers * count));
        Span<T> a = work.Span[..count], b = work.Span.Slice(count, count), c = work.Span.Slice(2 * count, count);
        int next = 3 * count;

        ReadOnlySpan<T> branchInput = input;
        if (pre)
        {
            Norm.Forward(input, a, shape, training);
            branchInput = a;
        }
        if (chunk) Lru.ForwardChunk(branchInput, b, shape.Rows, carry, first);
        else Lru.Forward(branchInput, b, shape, training);
        Activation.Forward(b, c, shape, training);
        ReadOnlySpan<T> mixerInput = c;
        if (dropout1 is not null)
        {
            dropout1.Forward(c, b, shape, training);
            mixerInput = b;
        }
        Span<T> z = output;
        if (!pre)
        {
            z = work.Span.Slice(next, count);
            next += count;
        }
        // The last module of the branch adds the skip in its own last pass (ForwardPlus).
        Module<T> last = Mixer;
        ReadOnlySpan<T> lastInput = mixerInput;
        if (dropout2 is not null)
        {
            Span<T> e = work.Span.Slice(next, count);
            Mixer.Forward(mixerInput, e, shape, training);
            last = dropout2;
            lastInput = e;
        }
        if (Config.Residual) last.ForwardPlus(lastInput, input, z, shape, training);
        else last.Forward(lastInput, z, shape, training);
        if (!pre) Norm.Forward(z, output, shape, training);
    }

    /// <summary>
    /// The wiring backwards: the skip adds ∂z to ∂x, and every child writes its input gradient into a buffer that is the
    /// previous child's output gradient.
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: true);

    /// <summary>As <see cref="BackwardCore"/>, writing ∂x: the pre-norm writes ∂z plus its own part (BackwardPlus), or the skip copies ∂z, or the first child writes.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: false);

    private void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, bool accumulate)
    {
        int count = gradOutput.Length;
        Span<T> g1 = Grow(ref _g1, count), g2 = Grow(ref _g2, count);
        bool pre = Config.Placement == NormPlacement.Pre;

        // ∂z: the gradient reaching the branch output (and, with the residual, the block input).
        ReadOnlySpan<T> gradZ = gradOutput;
        if (!pre)
        {
            Span<T> g3 = Grow(ref _g3, count);
            Norm.BackwardReplacing(gradOutput, g3);
            gradZ = g3;
        }
        // Writing ∂x before a pre-norm, the norm adds the skip's part in its own last pass (BackwardPlus) instead of a copy now.
        bool skipIntoNorm = Config.Residual && pre && !accumulate && !gradInput.IsEmpty;
        if (Config.Residual && !gradInput.IsEmpty && !skipIntoNorm)
        {
            if (accumulate) Elementwise.Add(gradInput, gradZ, gradInput, Parallelism.MaxThreads);
            else Elementwise.Copy(gradZ, gradInput, Parallelism.MaxThreads);
            accumulate = true; // the first child adds to the skip's part
        }

        ReadOnlySpan<T> gradMixerOut = gradZ;
        if (Dropout2 is not null)
        {
            Dropout2.BackwardReplacing(gradZ, g1);
            gradMixerOut = g1;
        }
        Mixer.BackwardReplacing(gradMixerOut, g2);
        Span<T> gradActivationOut = g2, gradLruOut = g1;
        if (Dropout1 is not null)
        {
            Dropout1.BackwardReplacing(g2, g1);
            gradActivationOut = g1;
            gradLruOut = g2;
        }
        Activation.BackwardReplacing(gradActivationOut, gradLruOut);

        // The LRU's input gradient goes to the norm (pre-norm; the norm needs it for its parameters even when ∂x is not
        // wanted) or straight to ∂x.
        if (pre)
        {
            Span<T> gradNormOut = gradActivationOut;
            Lru.BackwardReplacing(gradLruOut, gradNormOut);
            if (skipIntoNorm) Norm.BackwardPlus(gradNormOut, gradZ, gradInput);
            else Norm.Backward(gradNormOut, gradInput, accumulate);
        }
        else
        {
            Lru.Backward(gradLruOut, gradInput, accumulate);
        }
    }

    /// <summary>The states of the norm, the LRU, the activation and the mixer (dropout is the identity when streaming), and two step buffers.</summary>
    protected override StreamState<T> CreateStateCore(int batch) =>
        new BlockState(batch, Config.Hidden, Norm.CreateState(batch), Lru.CreateState(batch), Activation.CreateState(batch), Mixer.CreateState(batch));

    /// <summary>One step of the block's wiring in evaluation mode.</summary>
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        var s = (BlockState)state;
        Span<T> a = s.A, b = s.B;
        bool pre = Config.Placement == NormPlacement.Pre;
        ReadOnlySpan<T> branchInput = input;
        if (pre)
        {
            Norm.Step(input, a, s.Children[0]);
            branchInput = a;
        }
        Lru.Step(branchInput, b, s.Children[1]);
        Activation.Step(b, a, s.Children[2]);
        Span<T> z = pre ? output : b;
        Mixer.Step(a, z, s.Children[3]);
        if (Config.Residual) TensorPrimitives.Add(z, input, z);
        if (!pre) Norm.Step(z, output, s.Children[0]);
    }

    /// <summary>The streaming state of a block: its children's states and work space, so stepping allocates nothing.</summary>
    private sealed class BlockState(int batch, int hidden, params StreamState<T>[] children) : StreamState<T>(batch, children)
    {
        public T[] A { get; } = new T[batch * hidden];

        public T[] B { get; } = new T[batch * hidden];
    }
}
