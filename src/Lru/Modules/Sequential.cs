using System.Globalization;
using System.Numerics;
using Lru.Tensors;

namespace Lru.Modules;

/// <summary>
/// Modules run one after the other: <c>y = m_k(…m_1(m_0(x)))</c>. Any module fits, the library's or a user's own, as
/// long as each one's <see cref="Module{T}.InputFeatures"/> equals the previous one's <see cref="Module{T}.OutputFeatures"/>.
/// Parameters are named <c>&lt;child name&gt;.&lt;parameter&gt;</c> (children added without a name are called 0, 1, 2, …).
/// </summary>
/// <remarks>
/// A module that <see cref="Module{T}.ReducesTime"/> (pooling) may sit anywhere: the modules after it see sequences of
/// one step. Valid lengths of padded sequences are passed to every module up to the first that reduces time.
/// The forward pass keeps no activations of its own (each child keeps what its backward needs) and takes its two
/// ping-pong buffers from its work-space pool, so evaluation calls may run concurrently; the backward pass runs the
/// children in reverse, each writing its input gradient into a buffer that is the next one's output gradient.
/// The container can stream when every child can; its state holds every child's state and the step's work space.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public class Sequential<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Module<T>> _modules = [];
    private T[] _gradA = [], _gradB = [];
    private int[] _sizes = [];
    private bool _fixed;

    /// <summary>Creates a container of named modules, run in the given order.</summary>
    /// <param name="modules">At least one (name, module) pair; names are local (not empty, without '.').</param>
    /// <exception cref="ArgumentNullException"><paramref name="modules"/> or a module is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modules"/> is empty, a name is invalid or repeated, a module already belongs to another tree, or two neighbours' widths differ (the message names both).</exception>
    public Sequential(params (string Name, Module<T> Module)[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0) throw new ArgumentException("A Sequential needs at least one module.", nameof(modules));
        foreach (var (name, module) in modules) Add(name, module);
    }

    /// <summary>Creates a container of modules named 0, 1, 2, …, run in the given order.</summary>
    /// <param name="modules">At least one module.</param>
    /// <exception cref="ArgumentNullException"><paramref name="modules"/> or a module is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modules"/> is empty, a module already belongs to another tree, or two neighbours' widths differ.</exception>
    public Sequential(params Module<T>[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0) throw new ArgumentException("A Sequential needs at least one module.", nameof(modules));
        foreach (var module in modules) Add(module);
    }

    /// <summary>The number of modules.</summary>
    public int Count => _modules.Count;

    /// <summary>The modules, in order.</summary>
    public IReadOnlyList<Module<T>> Modules => _modules;

    /// <summary>The module at <paramref name="index"/>.</summary>
    /// <param name="index">From 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, Count).</exception>
    public Module<T> this[int index] => _modules[index];

    /// <summary>Appends a module under a name.</summary>
    /// <param name="name">The local name: not empty, without '.', not yet used in this container.</param>
    /// <param name="module">The module; its InputFeatures must equal the last module's OutputFeatures.</param>
    /// <returns>This container (so calls can be chained).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is invalid or taken, the module belongs to another tree, or the widths do not match.</exception>
    /// <exception cref="InvalidOperationException">The container's modules are fixed (a <c>SequenceModel</c>, its blocks, an <c>Mlp</c>).</exception>
    public Sequential<T> Add(string name, Module<T> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (_fixed)
            throw new InvalidOperationException($"The modules of this {TypeName} are fixed by what built it (its configuration or its constructor); build a Sequential of the same parts to add modules.");
        CheckAdd(name, module);
        if (_modules.Count > 0 && _modules[^1].OutputFeatures != module.InputFeatures)
            throw new ArgumentException(
                $"'{name}' ({module.TypeName}) takes {module.InputFeatures} features per step, but the module before it, '{Children[^1].Name}' ({_modules[^1].TypeName}), gives {_modules[^1].OutputFeatures}.", nameof(module));
        _modules.Add(RegisterModule(name, module));
        return this;
    }

    /// <summary>Appends a module named by its position (0, 1, 2, …).</summary>
    /// <param name="module">The module.</param>
    /// <returns>This container.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    /// <exception cref="ArgumentException">The module belongs to another tree, or the widths do not match.</exception>
    /// <exception cref="InvalidOperationException">The container's modules are fixed.</exception>
    public Sequential<T> Add(Module<T> module) => Add(_modules.Count.ToString(CultureInfo.InvariantCulture), module);

    /// <summary>Refuses further <see cref="Add(string, Module{T})"/> calls: for containers whose structure something else describes (a configuration, properties that name the children).</summary>
    internal void FixModules() => _fixed = true;

    /// <summary>Refuses a module this kind of container cannot hold (nothing for <see cref="Sequential{T}"/>).</summary>
    /// <param name="name">The module's name.</param>
    /// <param name="module">The module.</param>
    /// <exception cref="ArgumentException">The module does not fit.</exception>
    private protected virtual void CheckAdd(string name, Module<T> module)
    {
    }

    /// <inheritdoc/>
    public override int InputFeatures => _modules[0].InputFeatures;

    /// <inheritdoc/>
    public override int OutputFeatures => _modules[^1].OutputFeatures;

    /// <inheritdoc/>
    public override bool ReducesTime
    {
        get
        {
            foreach (var m in _modules) if (m.ReducesTime) return true;
            return false;
        }
    }

    /// <inheritdoc/>
    protected override bool StreamsWhenChildrenDo => true;

    /// <inheritdoc/>
    public override bool CanStream
    {
        get
        {
            foreach (var m in _modules) if (!m.CanStream) return false;
            return true;
        }
    }

    /// <summary>
    /// Runs the modules in order through two ping-pong work buffers. In evaluation mode, a run of two or more modules
    /// that can go chunk by chunk of time steps (see <see cref="ChunkedEvaluation"/>; the encoder and blocks of a model)
    /// goes so when the shape pays, with the same values.
    /// </summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int n = _modules.Count;
        if (n == 1)
        {
            _modules[0].Forward(input, output, shape, training);
            return;
        }
        int largest = 0;
        for (int i = 0, steps = shape.Length; i < n - 1; i++)
        {
            steps = _modules[i].OutputSteps(steps);
            largest = Math.Max(largest, checked(shape.Batch * steps * _modules[i].OutputFeatures));
        }
        using var work = RentWorkspace(checked(2 * largest));
        Span<T> a = work.Span[..largest], b = work.Span[largest..];
        ReadOnlySpan<T> x = input;
        SequenceShape inner = shape;
        for (int i = 0, written = 0; i < n; written++)
        {
            int end = ChunkRunEnd(i, inner);
            var module = _modules[end - 1];
            Span<T> y = end == n ? output : (written % 2 == 0 ? a : b)[..module.OutputSize(inner.Batch, inner.Length)];
            if (end - i >= 2) ForwardChunked(i, end, x, y, inner);
            else module.Forward(x, y, inner, training);
            x = y;
            if (module.ReducesTime) inner = inner.Pooled;
            i = end;
        }

        // The end of the run of chunkable modules from i (i + 1 when the pass does not run chunked or module i cannot).
        int ChunkRunEnd(int i, in SequenceShape inner)
        {
            if (training || !ChunkedEvaluation.Pays(inner, Parallelism.MaxThreads)) return i + 1;
            int end = i;
            while (end < n && !_modules[end].ReducesTime && _modules[end].EvaluatesInChunks(inner.Batch, inner.Length)) end++;
            return Math.Max(end, i + 1);
        }
    }

    /// <summary>True when the forward pass is this class's own <see cref="ForwardCore"/> (as <see cref="BackwardIsSequential"/> for the backward).</summary>
    private protected virtual bool ForwardIsSequential => GetType() == typeof(Sequential<T>);

    /// <summary>When the forward is this class's own and every child can go chunk by chunk (none pools over time).</summary>
    internal override bool EvaluatesInChunks(int batch, int length)
    {
        if (!ForwardIsSequential) return false;
        foreach (var module in _modules)
        {
            if (module.ReducesTime || !module.EvaluatesInChunks(batch, length)) return false;
        }
        return true;
    }

    /// <summary>The children's states, in order.</summary>
    internal override int ChunkState
    {
        get
        {
            int sum = 0;
            foreach (var module in _modules) sum += module.ChunkState;
            return sum;
        }
    }

    /// <summary>The children in order on one chunk, each with its share of the carry.</summary>
    internal override void ForwardChunk(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first) =>
        ChainChunk(0, _modules.Count, input, output, rows, carry, first);

    /// <summary>Modules [from, to) over the whole input, chunk by chunk (see <see cref="ChunkedEvaluation"/>).</summary>
    private void ForwardChunked(int from, int to, ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape)
    {
        int state = 0, widest = 0;
        for (int i = from; i < to; i++)
        {
            state += _modules[i].ChunkState;
            widest = Math.Max(widest, Math.Max(_modules[i].InputFeatures, _modules[i].OutputFeatures));
        }
        using var carry = RentWorkspace(checked(shape.Batch * state));
        var body = new ChunkRun { Owner = this, From = from, To = to };
        ChunkedEvaluation.Run(ref body, input, output, carry.Span, shape, _modules[from].InputFeatures, _modules[to - 1].OutputFeatures, state,
            ChunkedEvaluation.Rows<T>(widest));
    }

    private struct ChunkRun : IChunkBody<T>
    {
        public Sequential<T> Owner;
        public int From, To;

        public readonly void Run(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first) =>
            Owner.ChainChunk(From, To, input, output, rows, carry, first);
    }

    /// <summary>Modules [from, to) on one chunk of <paramref name="rows"/> steps through two ping-pong buffers; <paramref name="carry"/> holds their carries in order.</summary>
    private void ChainChunk(int from, int to, ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first)
    {
        int widest = 0;
        for (int i = from; i < to - 1; i++) widest = Math.Max(widest, _modules[i].OutputFeatures);
        using var work = RentWorkspace(2 * rows * widest);
        ReadOnlySpan<T> x = input;
        for (int i = from, offset = 0; i < to; i++)
        {
            var module = _modules[i];
            Span<T> y = i == to - 1 ? output : work.Span.Slice((i - from) % 2 * rows * widest, rows * module.OutputFeatures);
            int size = module.ChunkState;
            module.ForwardChunk(x, y, rows, carry.Slice(offset, size), first);
            offset += size;
            x = y;
        }
    }

    /// <summary>
    /// Runs the modules' backward passes in reverse order: each writes its input gradient into a buffer that is the next
    /// one's output gradient, and the first adds to <paramref name="gradInput"/>.
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: true);

    /// <summary>
    /// True when the backward pass is this class's own <see cref="BackwardCore"/>: for <see cref="Sequential{T}"/> itself
    /// and the library's sealed subclasses, which say so. A subclass written elsewhere may override
    /// <see cref="BackwardCore"/>, so its replacing backward keeps the safe default (clear, then <see cref="BackwardCore"/>).
    /// </summary>
    private protected virtual bool BackwardIsSequential => GetType() == typeof(Sequential<T>);

    /// <summary>As <see cref="BackwardCore"/>, with the first module writing ∂ℒ/∂input.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (BackwardIsSequential) Backprop(gradOutput, gradInput, shape, accumulate: false);
        else base.BackwardReplacingCore(gradOutput, gradInput, shape);
    }

    /// <summary>The children's backward passes in reverse order; the first adds to or writes <paramref name="gradInput"/>.</summary>
    private protected void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, bool accumulate)
    {
        int n = _modules.Count;
        // sizes[i]: the number of values module i reads (the output of module i − 1).
        Span<int> sizes = Grow(ref _sizes, n);
        for (int i = 0, steps = shape.Length; i < n; i++)
        {
            sizes[i] = checked(shape.Batch * steps * _modules[i].InputFeatures);
            steps = _modules[i].OutputSteps(steps);
        }
        ReadOnlySpan<T> g = gradOutput;
        for (int i = n - 1; i >= 1; i--)
        {
            Span<T> gradBetween = i % 2 == 0 ? Grow(ref _gradA, sizes[i]) : Grow(ref _gradB, sizes[i]);
            _modules[i].BackwardReplacing(g, gradBetween);
            g = gradBetween;
        }
        _modules[0].Backward(g, gradInput, accumulate);
    }

    /// <summary>The children's states and two step buffers of the widest boundary.</summary>
    protected override StreamState<T> CreateStateCore(int batch)
    {
        var children = new StreamState<T>[_modules.Count];
        int widest = 0;
        for (int i = 0; i < children.Length; i++)
        {
            children[i] = _modules[i].CreateState(batch);
            widest = Math.Max(widest, _modules[i].OutputFeatures);
        }
        return new StepBuffers(batch, checked(batch * widest), children);
    }

    /// <summary>Steps the modules in order through the state's two buffers.</summary>
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        var buffers = (StepBuffers)state;
        int n = _modules.Count, batch = state.Batch;
        if (state.Children.Count != n)
            throw new InvalidOperationException($"state was made for {state.Children.Count} modules but this {TypeName} now has {n}; create a new state after adding modules.");
        ReadOnlySpan<T> x = input;
        for (int i = 0; i < n; i++)
        {
            var module = _modules[i];
            Span<T> y = i == n - 1 ? output : (i % 2 == 0 ? buffers.A : buffers.B).AsSpan(0, batch * module.OutputFeatures);
            module.Step(x, y, state.Children[i]);
            x = y;
        }
    }

    /// <summary>A container's streaming state: the children's states and two buffers for the values between them.</summary>
    private protected sealed class StepBuffers(int batch, int length, StreamState<T>[] children) : StreamState<T>(batch, children)
    {
        public T[] A { get; } = new T[length];

        public T[] B { get; } = new T[length];
    }
}

/// <summary>
/// A residual connection around a sequence of modules: <c>y = x + m_k(…m_0(x))</c> (the paper's skip around the
/// LRU branch). The modules must map H features to H features and keep the time axis. Parameters are named like
/// <see cref="Sequential{T}"/>'s: <c>&lt;child name&gt;.&lt;parameter&gt;</c>.
/// </summary>
/// <remarks>
/// The backward pass adds ∂ℒ/∂y to ∂ℒ/∂x for the skip and lets the branch add its own part: with accumulating input
/// gradients no extra buffer is needed.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public class Residual<T> : Sequential<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates <c>x + branch(x)</c> with the branch's named modules.</summary>
    /// <param name="modules">At least one (name, module) pair.</param>
    /// <exception cref="ArgumentNullException"><paramref name="modules"/> or a module is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="Sequential{T}"/>, or the branch does not map H to H, or a module pools over time.</exception>
    public Residual(params (string Name, Module<T> Module)[] modules) : base(modules) => CheckWidths();

    /// <summary>Creates <c>x + branch(x)</c> with modules named 0, 1, 2, ….</summary>
    /// <param name="modules">At least one module.</param>
    /// <exception cref="ArgumentNullException"><paramref name="modules"/> or a module is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="Sequential{T}"/>, or the branch does not map H to H, or a module pools over time.</exception>
    public Residual(params Module<T>[] modules) : base(modules) => CheckWidths();

    private protected override void CheckAdd(string name, Module<T> module)
    {
        if (module.ReducesTime)
            throw new ArgumentException($"'{name}' ({module.TypeName}) pools over time, but a residual branch must keep one output per input step.", nameof(module));
    }

    private void CheckWidths()
    {
        if (InputFeatures != OutputFeatures)
            throw new ArgumentException($"A residual branch must map H features to H, but this one takes {InputFeatures} and gives {OutputFeatures}.", "modules");
    }

    /// <summary><c>y = branch(x) + x</c>.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        CheckWidths();
        base.ForwardCore(input, output, shape, training);
        Elementwise.Add(output, input, output, Parallelism.MaxThreads);
    }

    /// <summary><c>∂x += ∂y</c> (the skip), then the branch adds its part.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (!gradInput.IsEmpty) Elementwise.Add(gradInput, gradOutput, gradInput, Parallelism.MaxThreads);
        Backprop(gradOutput, gradInput, shape, accumulate: true);
    }

    /// <summary>True for <see cref="Residual{T}"/> itself (see <see cref="Sequential{T}"/>).</summary>
    private protected override bool BackwardIsSequential => GetType() == typeof(Residual<T>);

    /// <summary><c>∂x = ∂y</c> (the skip), then the branch adds its part.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (!BackwardIsSequential)
        {
            gradInput.Clear();
            BackwardCore(gradOutput, gradInput, shape);
            return;
        }
        Elementwise.Copy(gradOutput, gradInput, Parallelism.MaxThreads);
        Backprop(gradOutput, gradInput, shape, accumulate: true);
    }

    /// <summary>One step of <c>y = branch(x) + x</c>.</summary>
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        base.StepCore(input, output, state);
        System.Numerics.Tensors.TensorPrimitives.Add(output, input, output);
    }
}
