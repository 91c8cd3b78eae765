using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Modules;

/// <summary>
/// A differentiable module over sequences of feature vectors, and a node of a module tree: every layer, block,
/// pooling stage, container and model of the library is one, and so can be a user's own.
/// Input (batch, length, <see cref="InputFeatures"/>), output (batch, length, <see cref="OutputFeatures"/>), or
/// (batch, <see cref="OutputFeatures"/>) for a module that <see cref="ReducesTime"/>; both dense row-major.
/// </summary>
/// <remarks>
/// <para><b>What a module writes.</b> Only its math: <see cref="ForwardCore"/> and <see cref="BackwardCore"/> (llm.c style,
/// a forward and a backward pass side by side), plus <see cref="StepCore"/> for a stateful streaming module. The base
/// class owns the rest once: argument and shape checks (exceptions name the argument and give expected and actual
/// values), the call guard, the shape of the last training forward (so <see cref="Backward(ReadOnlySpan{T}, Span{T})"/>
/// needs no shape), work space for concurrent calls (<see cref="RentWorkspace"/>), the training/evaluation mode of the
/// whole tree, hierarchical parameter and buffer names, zeroing gradients, reseeding random generators, streaming state,
/// and the <c>System.Numerics.Tensors</c> overloads. A module registers its parameters, buffers and children once, in its
/// constructor (<see cref="RegisterParameter"/>, <see cref="RegisterBuffer"/>, <see cref="RegisterModule"/>).</para>
/// <para><b>Gradients accumulate.</b> A backward pass <em>adds</em> ∂ℒ/∂input to the gradInput span and every parameter's
/// gradient to <see cref="Parameter{T}.Gradient"/> (<c>+=</c>), so an input used by two branches (a residual, the two
/// directions of a bidirectional LRU) needs no extra buffer: each branch adds its part. Callers therefore pass a zeroed gradInput (or one
/// holding another branch's contribution), and clear parameter gradients with <see cref="ZeroGradients"/> before a step.</para>
/// <para><b>Training.</b> A training-mode forward (<see cref="IsTraining"/>, or the <c>training</c> argument) keeps what
/// the backward needs in buffers the module owns, grown on first use (<see cref="Grow"/>), so steady-state steps allocate
/// nothing; call <see cref="Backward(ReadOnlySpan{T}, Span{T})"/> after it, with the same shape. A module called by its
/// parent runs in the mode of the parent's call. Evaluation-mode forward passes keep nothing.</para>
/// <para><b>Threads.</b> Evaluation-mode forward passes and streaming steps (each stream with its own state) may run on
/// several threads at once; each takes its work space from a pool the module owns, so once the largest shape and number
/// of concurrent calls have been seen they allocate nothing, and results are bit-identical to serial calls. Training is
/// single-threaded: a training-mode forward or a backward that overlaps any other call on the same module throws
/// <see cref="InvalidOperationException"/> (one interlocked operation per call). Changing <see cref="IsTraining"/> or
/// the parameters while calls run is not allowed and not detected.</para>
/// <para><b>Streaming.</b> A module that can be run one time step at a time says so with <see cref="CanStream"/>. A
/// module whose output step t depends only on input step t (Linear, norms, GELU, GLU) needs nothing more: its step is
/// its forward pass over one step in evaluation mode. A module with memory (the LRU, a causal convolution, mean
/// pooling) also overrides <see cref="CreateStateCore"/> and <see cref="StepCore"/>.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Parameter<T>> _parameters = [];
    private readonly List<(string Name, T[] Values)> _buffers = [];
    private readonly List<(string Name, Module<T> Module)> _children = [];
    private WorkspacePool<T>? _workspaces;
    private Module<T>? _parent;
    private bool _training = true;

    // The shape of the last training forward pass, for Backward.
    private int _savedBatch = -1, _savedLength = -1;
    private int[] _savedLengths = [];
    private bool _savedHasLengths;

    // A training forward pass under way: its shape becomes the saved one only when it completes.
    private int _pendingBatch, _pendingLength;

    /// <summary>Creates the module, in training mode, with no parameters or children.</summary>
    protected Module() => Calls = new CallGuard(GetType().Name);

    /// <summary>The type's name without generic arity (for example <c>LruLayer</c>), as used in messages.</summary>
    public string TypeName
    {
        get
        {
            string name = GetType().Name;
            int tick = name.IndexOf('`');
            return tick < 0 ? name : name[..tick];
        }
    }

    /// <summary>Features per time step of the input.</summary>
    public abstract int InputFeatures { get; }

    /// <summary>Features per time step (or per sequence, when <see cref="ReducesTime"/>) of the output.</summary>
    public abstract int OutputFeatures { get; }

    /// <summary>True when the module reduces every sequence to one vector (mean or last pooling): its output is (batch, OutputFeatures).</summary>
    public virtual bool ReducesTime => false;

    /// <summary>
    /// True when the module can be run one time step at a time with <see cref="Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>:
    /// its output at step t depends on inputs up to t only. False by default; a container can stream when all its children can.
    /// </summary>
    public virtual bool CanStream => false;

    /// <summary>Why the module cannot stream, for the message of <see cref="CreateState"/>.</summary>
    protected virtual string NonStreamingReason => "does not declare that it can stream (CanStream is false)";

    /// <summary>
    /// True for a container that can stream exactly when all its children can (<see cref="Sequential{T}"/>, the LRU block),
    /// so that <see cref="CreateState"/> names the child that cannot rather than the container.
    /// </summary>
    protected virtual bool StreamsWhenChildrenDo => false;

    /// <summary>True (the default) in training mode; false for evaluation. Setting it sets every module below too.</summary>
    /// <remarks>Writes only where the value changes, so evaluation calls running meanwhile only read it.</remarks>
    public bool IsTraining
    {
        get => _training;
        set
        {
            if (_training != value) _training = value;
            foreach (var (_, child) in _children) child.IsTraining = value;
        }
    }

    /// <summary>The module's children with their local names, in registration order.</summary>
    public IReadOnlyList<(string Name, Module<T> Module)> Children => _children;

    /// <summary>Refuses training-mode calls that overlap other calls on this instance.</summary>
    private protected CallGuard Calls { get; }

    /// <summary>Evaluation calls in flight, or −1 while a training call runs (for tests of the guard).</summary>
    internal int CallsInFlight => Calls.State;

    /// <summary>The number of output steps for input sequences of <paramref name="length"/> steps: 1 when <see cref="ReducesTime"/>, else the length.</summary>
    /// <param name="length">L.</param>
    /// <returns>The output's time dimension.</returns>
    public int OutputSteps(int length) => ReducesTime ? 1 : length;

    /// <summary>The number of output values for a batch: B·OutputFeatures when <see cref="ReducesTime"/>, else B·L·OutputFeatures.</summary>
    /// <param name="batch">B, at least 0.</param>
    /// <param name="length">L, at least 0.</param>
    /// <returns>The length an output span must have.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="OverflowException">The count exceeds <see cref="int.MaxValue"/>.</exception>
    public int OutputSize(int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return checked(batch * OutputSteps(length) * OutputFeatures);
    }

    // ───────────────────────────── the tree: parameters, buffers, children ─────────────────────────────

    /// <summary>Registers one of this module's own parameters under its <see cref="Parameter{T}.Name"/>.</summary>
    /// <param name="parameter">The parameter.</param>
    /// <returns><paramref name="parameter"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="parameter"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is taken by another parameter, buffer or child of this module.</exception>
    protected Parameter<T> RegisterParameter(Parameter<T> parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        CheckFreeName(parameter.Name, nameof(parameter));
        _parameters.Add(parameter);
        return parameter;
    }

    /// <summary>Registers non-trainable state that belongs in checkpoints (for example BatchNorm's running statistics).</summary>
    /// <param name="name">The local name: not empty, without '.'.</param>
    /// <param name="values">The live array; checkpoints read and restore it in place.</param>
    /// <returns><paramref name="values"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The name is empty, contains '.', or is taken.</exception>
    protected T[] RegisterBuffer(string name, T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckName(name, nameof(name));
        CheckFreeName(name, nameof(name));
        _buffers.Add((name, values));
        return values;
    }

    /// <summary>Registers a child module; its parameters are named <c>name.…</c> and it follows this module's mode.</summary>
    /// <typeparam name="TModule">The child's type.</typeparam>
    /// <param name="name">The local name: not empty, without '.'.</param>
    /// <param name="module">The child; a module belongs to one parent.</param>
    /// <returns><paramref name="module"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The name is empty, contains '.', or is taken; the module already has a parent, or is this module or one above it.</exception>
    protected TModule RegisterModule<TModule>(string name, TModule module) where TModule : Module<T>
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name, nameof(name));
        CheckFreeName(name, nameof(name));
        if (module._parent is not null)
            throw new ArgumentException($"The {module.TypeName} given as '{name}' already belongs to another module; a module instance can sit in one place of one tree (its caches hold one forward pass).", nameof(module));
        for (Module<T>? m = this; m is not null; m = m._parent)
        {
            if (ReferenceEquals(m, module))
                throw new ArgumentException($"The {module.TypeName} given as '{name}' is this module or contains it; a module tree has no cycles.", nameof(module));
        }
        module._parent = this;
        module.IsTraining = _training;
        _children.Add((name, module));
        return module;
    }

    /// <summary>Every parameter of the tree with its hierarchical name (<c>blocks.0.lru.nu_log</c>): a module's own parameters first, then its children's in order.</summary>
    /// <returns>The parameters, in that fixed order.</returns>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters() => ParametersBelow("");

    private IEnumerable<(string Name, Parameter<T> Parameter)> ParametersBelow(string prefix)
    {
        foreach (var p in _parameters) yield return (prefix + p.Name, p);
        foreach (var (name, child) in _children)
            foreach (var entry in child.ParametersBelow(prefix + name + ".")) yield return entry;
    }

    /// <summary>Every buffer of the tree (non-trainable state such as BatchNorm's running statistics) with its hierarchical name.</summary>
    /// <returns>The live arrays (not copies), a module's own first, then its children's in order.</returns>
    public IEnumerable<(string Name, T[] Values)> NamedBuffers() => BuffersBelow("");

    private IEnumerable<(string Name, T[] Values)> BuffersBelow(string prefix)
    {
        foreach (var (name, values) in _buffers) yield return (prefix + name, values);
        foreach (var (name, child) in _children)
            foreach (var entry in child.BuffersBelow(prefix + name + ".")) yield return entry;
    }

    /// <summary>This module (named "") and every module below it, depth-first, with hierarchical names.</summary>
    /// <returns>The modules in order.</returns>
    public IEnumerable<(string Name, Module<T> Module)> NamedModules() => ModulesBelow("");

    private IEnumerable<(string Name, Module<T> Module)> ModulesBelow(string path)
    {
        yield return (path, this);
        foreach (var (name, child) in _children)
            foreach (var entry in child.ModulesBelow(path.Length == 0 ? name : path + "." + name)) yield return entry;
    }

    /// <summary>The number of trainable values in the tree.</summary>
    public long ParameterCount
    {
        get
        {
            long count = 0;
            foreach (var p in _parameters) count += p.Length;
            foreach (var (_, child) in _children) count += child.ParameterCount;
            return count;
        }
    }

    /// <summary>Sets the gradient of every parameter in the tree to zero. Allocates nothing once the gradients exist.</summary>
    public void ZeroGradients()
    {
        foreach (var p in _parameters) p.ZeroGradient();
        foreach (var (_, child) in _children) child.ZeroGradients();
    }

    /// <summary>A copy of every parameter and buffer of the tree as tensors, by hierarchical name (PyTorch's <c>state_dict</c>).</summary>
    /// <returns>Parameters with their shapes, buffers as vectors.</returns>
    public Dictionary<string, Tensor<T>> StateDictionary()
    {
        var state = new Dictionary<string, Tensor<T>>(StringComparer.Ordinal);
        foreach (var (name, p) in NamedParameters()) state[name] = p.ToTensor();
        foreach (var (name, values) in NamedBuffers()) state[name] = Tensor.Create((T[])values.Clone(), [values.Length]);
        return state;
    }

    /// <summary>
    /// Sets every parameter and buffer of the tree from tensors named as in <see cref="StateDictionary"/>. Everything is
    /// checked before anything changes: each name must be present with exactly its shape, and no other name may be given.
    /// </summary>
    /// <param name="state">The values by hierarchical name; copied.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">A name is missing or unknown, or a tensor has the wrong shape or is null; the message names it.</exception>
    public void LoadStateDictionary(IReadOnlyDictionary<string, Tensor<T>> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var parameters = NamedParameters().ToArray();
        var buffers = NamedBuffers().ToArray();
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, p) in parameters)
        {
            known.Add(name);
            CheckEntry(state, name, p.Shape);
        }
        foreach (var (name, values) in buffers)
        {
            known.Add(name);
            CheckEntry(state, name, [values.Length]);
        }
        foreach (string name in state.Keys)
        {
            if (!known.Contains(name))
                throw new ArgumentException($"state has '{name}', which is not a parameter or buffer of this {TypeName}.", nameof(state));
        }
        // FlattenTo reads any layout (strided or broadcast), so nothing can fail once the checks have passed.
        foreach (var (name, p) in parameters)
        {
            var values = new T[p.Length];
            state[name].FlattenTo(values);
            p.Assign(values);
        }
        foreach (var (name, values) in buffers) state[name].FlattenTo(values);

        static void CheckEntry(IReadOnlyDictionary<string, Tensor<T>> state, string name, ReadOnlySpan<int> shape)
        {
            if (!state.TryGetValue(name, out var tensor) || tensor is null)
                throw new ArgumentException($"state has no tensor for '{name}'.", nameof(state));
            ReadOnlySpan<nint> lengths = tensor.Lengths;
            bool same = lengths.Length == shape.Length;
            for (int d = 0; same && d < shape.Length; d++) same = lengths[d] == shape[d];
            if (!same)
                throw new ArgumentException($"state['{name}'] has shape ({string.Join(", ", lengths.ToArray())}) but ({string.Join(", ", shape.ToArray())}) is needed.", nameof(state));
        }
    }

    /// <summary>
    /// Restarts every random generator of the tree (dropout masks) from a seed derived from <paramref name="seed"/> and
    /// the module's position among the modules that use randomness (depth-first), so the masks of a training step depend
    /// only on that seed. The trainer passes one per optimiser step, which makes resumed runs bit-identical to
    /// uninterrupted ones. Allocates nothing.
    /// </summary>
    /// <param name="seed">The seed of this step's randomness.</param>
    /// <exception cref="InvalidOperationException">The call overlaps another call on this module.</exception>
    public void ReseedRandomness(long seed)
    {
        using var scope = Calls.Enter(training: true, nameof(ReseedRandomness));
        int next = 0;
        Reseed(seed, ref next);
    }

    private void Reseed(long seed, ref int next)
    {
        if (UsesRandomness) ReseedCore(SeededRandom.Combine(seed, next++));
        foreach (var (_, child) in _children) child.Reseed(seed, ref next);
    }

    /// <summary>True for a module that draws random numbers in training mode (dropout); see <see cref="ReseedRandomness"/>.</summary>
    protected virtual bool UsesRandomness => false;

    /// <summary>Restarts the module's own generator from <paramref name="seed"/> (when <see cref="UsesRandomness"/>).</summary>
    /// <param name="seed">The derived seed.</param>
    protected virtual void ReseedCore(long seed)
    {
    }

    // ───────────────────────────── forward ─────────────────────────────

    /// <summary>Runs the module in its current mode (<see cref="IsTraining"/>); in training mode also keeps what the backward pass needs.</summary>
    /// <param name="input">(batch, length, InputFeatures).</param>
    /// <param name="output">(batch, length, OutputFeatures), or (batch, OutputFeatures) when <see cref="ReducesTime"/>; must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">B, at least 0.</param>
    /// <param name="length">L, at least 0 (at least 1 when <see cref="ReducesTime"/>).</param>
    /// <param name="lengths">Empty, or (batch) valid lengths in [1, L] of padded sequences.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is out of range, or a valid length is outside [1, L].</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape (the message gives both).</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this module, or an evaluation-mode call overlaps a training-mode one.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths = default) =>
        Forward(input, output, new SequenceShape(batch, length, lengths), IsTraining);

    /// <summary>Runs the module in the given mode: the entry point containers use for their children.</summary>
    /// <param name="input">(batch, length, InputFeatures).</param>
    /// <param name="output">(batch, length, OutputFeatures), or (batch, OutputFeatures) when <see cref="ReducesTime"/>.</param>
    /// <param name="shape">Batch, length and valid lengths.</param>
    /// <param name="training">Whether this is a training pass (keeps caches, dropout on, batch statistics).</param>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ReducesTime"/> and the length is 0.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">The call overlaps a call it must not overlap (see the remarks).</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        using var scope = BeginForward(input.Length, output.Length, shape, training);
        if (!output.IsEmpty) ForwardCore(input, output, shape, training);
        scope.Complete();
    }

    /// <summary>
    /// For containers with a skip connection: runs the module and writes its output plus <paramref name="addend"/> (the
    /// skip) to <paramref name="output"/>, with the values of <see cref="Forward(ReadOnlySpan{T}, Span{T}, in SequenceShape, bool)"/>
    /// followed by an addition (the output rounded, then added). The default does exactly that; a module that can add in
    /// its own last pass over the output (the GLU's gate, dropout's mask) saves the pass.
    /// </summary>
    /// <param name="input">(batch, length, InputFeatures); must not overlap <paramref name="output"/>.</param>
    /// <param name="addend">Shaped like the output; must not overlap <paramref name="output"/> (the module may write the output before it reads the addend).</param>
    /// <param name="output">(batch, length, OutputFeatures), or (batch, OutputFeatures) when <see cref="ReducesTime"/>.</param>
    /// <param name="shape">Batch, length and valid lengths.</param>
    /// <param name="training">Whether this is a training pass.</param>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">The call overlaps a call it must not overlap.</exception>
    internal void ForwardPlus(ReadOnlySpan<T> input, ReadOnlySpan<T> addend, Span<T> output, in SequenceShape shape, bool training)
    {
        Guard.Length(addend.Length, nameof(addend), "the length of output", output.Length);
        using var scope = BeginForward(input.Length, output.Length, shape, training);
        if (!output.IsEmpty) ForwardPlusCore(input, addend, output, shape, training);
        scope.Complete();
    }

    /// <summary>As <see cref="ForwardPlus"/>: the default runs <see cref="ForwardCore"/> and then adds the addend.</summary>
    private protected virtual void ForwardPlusCore(ReadOnlySpan<T> input, ReadOnlySpan<T> addend, Span<T> output, in SequenceShape shape, bool training)
    {
        ForwardCore(input, output, shape, training);
        Elementwise.Add(output, addend, output, Parallelism.MaxThreads);
    }

    /// <summary>
    /// Whether an evaluation-mode forward of this shape may run chunk by chunk of time steps, one sequence at a time (see
    /// <see cref="ChunkedEvaluation"/>), with the values of the whole pass: true for a module whose every output step
    /// depends only on the same input step and whose values do not depend on how many rows a call holds, and for a
    /// recurrence that carries its state from chunk to chunk (<see cref="ChunkState"/>); false by default, and so for
    /// every module written outside the library.
    /// </summary>
    /// <param name="batch">B of the whole pass.</param>
    /// <param name="length">L of the whole pass.</param>
    internal virtual bool EvaluatesInChunks(int batch, int length) => false;

    /// <summary>Elements of state per sequence a chunked evaluation carries from one chunk to the next (0 by default).</summary>
    internal virtual int ChunkState => 0;

    /// <summary>
    /// The evaluation-mode forward of <paramref name="rows"/> consecutive steps of one sequence, continuing from
    /// <paramref name="carry"/> (<see cref="ChunkState"/> elements; not read when <paramref name="first"/>, and written
    /// with the state after the chunk). The default, for modules with no carry, is <see cref="Forward(ReadOnlySpan{T}, Span{T}, in SequenceShape, bool)"/>
    /// of one sequence of <paramref name="rows"/> steps.
    /// </summary>
    internal virtual void ForwardChunk(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first) =>
        Forward(input, output, new SequenceShape(1, rows), training: false);

    /// <summary>Runs the module on <c>System.Numerics.Tensors</c> spans, without copying.</summary>
    /// <param name="input">A dense (B, L, InputFeatures) tensor span.</param>
    /// <param name="output">A dense (B, L, OutputFeatures) tensor span, or (B, OutputFeatures) when <see cref="ReducesTime"/>.</param>
    /// <param name="lengths">Empty, or (B) valid lengths of padded sequences.</param>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape (the message gives expected and actual shapes).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A valid length is outside [1, L].</exception>
    /// <exception cref="InvalidOperationException">The call overlaps a call it must not overlap.</exception>
    public void Forward(in ReadOnlyTensorSpan<T> input, in TensorSpan<T> output, ReadOnlySpan<int> lengths = default)
    {
        var (batch, length) = InputShape(input.Lengths, nameof(input));
        CheckOutputShape(output.Lengths, batch, length, nameof(output));
        Forward(input.AsFlatSpan(nameof(input)), output.AsFlatSpan(nameof(output)), batch, length, lengths);
    }

    /// <summary>Runs the module on a tensor and returns a new output tensor.</summary>
    /// <param name="input">A dense (B, L, InputFeatures) tensor.</param>
    /// <param name="lengths">Empty, or (B) valid lengths of padded sequences.</param>
    /// <returns>(B, L, OutputFeatures), or (B, OutputFeatures) when <see cref="ReducesTime"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="input"/> is not dense or not (B, L, InputFeatures).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A valid length is outside [1, L].</exception>
    /// <exception cref="InvalidOperationException">The call overlaps a call it must not overlap.</exception>
    public Tensor<T> Forward(Tensor<T> input, ReadOnlySpan<int> lengths = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (batch, length) = InputShape(input.Lengths, nameof(input));
        var output = Tensor.CreateFromShape<T>(OutputLengths(batch, length));
        Forward(input.AsReadOnlyTensorSpan(), output.AsTensorSpan(), lengths);
        return output;
    }

    /// <summary>
    /// The module's math: writes <paramref name="output"/> from <paramref name="input"/>; when <paramref name="training"/>,
    /// also keeps what <see cref="BackwardCore"/> needs (in buffers the module owns, see <see cref="Grow"/>). Called with
    /// checked arguments, a non-empty output, and the call guard held. Must write every output element; must not write
    /// shared state in evaluation mode (concurrent calls), so evaluation work space comes from <see cref="RentWorkspace"/>.
    /// </summary>
    /// <param name="input">(B, L, InputFeatures).</param>
    /// <param name="output">(B, L, OutputFeatures), or (B, OutputFeatures) when <see cref="ReducesTime"/>.</param>
    /// <param name="shape">Batch, length and valid lengths.</param>
    /// <param name="training">Whether this is a training pass.</param>
    protected abstract void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training);

    /// <summary>
    /// Checks a forward call and enters the call guard: the preamble of
    /// <see cref="Forward(ReadOnlySpan{T}, Span{T}, in SequenceShape, bool)"/>, for modules that add overloads of their
    /// own (the LRU's initial and final state). Call <see cref="CallScope.Complete"/> when the pass has succeeded — only
    /// then does a training pass's shape become the one <see cref="Backward(ReadOnlySpan{T}, Span{T})"/> uses (a pass that
    /// throws leaves no shape, so no backward pass can run on stale caches) — and dispose the result when the call ends.
    /// </summary>
    /// <param name="inputLength">The input span's length.</param>
    /// <param name="outputLength">The output span's length.</param>
    /// <param name="shape">Batch, length and valid lengths.</param>
    /// <param name="training">Whether this is a training pass.</param>
    /// <returns>The held call guard.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ReducesTime"/> and the length is 0 while the batch is not.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">The call overlaps a call it must not overlap.</exception>
    protected CallScope BeginForward(int inputLength, int outputLength, in SequenceShape shape, bool training)
    {
        int batch = shape.Batch, length = shape.Length;
        if (ReducesTime && length < 1 && batch > 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"{TypeName} reduces every sequence to one vector, so sequences need at least 1 step; got length {length}.");
        Guard.Length(inputLength, "input", "batch, length, InputFeatures", batch, length, InputFeatures);
        if (ReducesTime) Guard.Length(outputLength, "output", "batch, OutputFeatures", batch, OutputFeatures);
        else Guard.Length(outputLength, "output", "batch, length, OutputFeatures", batch, length, OutputFeatures);
        var scope = Calls.Enter(training, "Forward");
        if (!training) return new CallScope(scope, null);
        _savedBatch = -1; // until this pass completes
        (_pendingBatch, _pendingLength) = (batch, length);
        _savedHasLengths = !shape.Lengths.IsEmpty;
        if (_savedHasLengths) shape.Lengths.CopyTo(Grow(ref _savedLengths, batch));
        return new CallScope(scope, this);
    }

    // ───────────────────────────── backward ─────────────────────────────

    /// <summary>
    /// Back-propagates through the last training forward pass: adds ∂ℒ/∂input to <paramref name="gradInput"/> and every
    /// parameter's gradient to <see cref="Parameter{T}.Gradient"/>.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, shaped like that forward pass's output.</param>
    /// <param name="gradInput">(batch, length, InputFeatures), added to; empty (the default) when ∂ℒ/∂input is not needed. Must not overlap <paramref name="gradOutput"/>.</param>
    /// <exception cref="InvalidOperationException">No training forward pass precedes the call, or the call overlaps another call on this module.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape, or the spans overlap.</exception>
    public void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput = default)
    {
        using var scope = BeginBackward(gradOutput, gradInput, out var shape);
        if (gradOutput.IsEmpty && gradInput.IsEmpty) return;
        BackwardCore(gradOutput, gradInput, shape);
    }

    /// <summary>As <see cref="Backward(ReadOnlySpan{T}, Span{T})"/>, checking that the shape is that of the last training forward pass.</summary>
    /// <param name="gradOutput">∂ℒ/∂output.</param>
    /// <param name="gradInput">(batch, length, InputFeatures), added to; empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this module.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length)
    {
        CheckSavedShape(batch, length);
        Backward(gradOutput, gradInput);
    }

    /// <summary>Refuses a backward call that names a shape other than that of the last training forward (none saved: left to <see cref="BeginBackward"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The last training forward had another shape.</exception>
    private protected void CheckSavedShape(int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (_savedBatch >= 0 && (batch != _savedBatch || length != _savedLength))
            throw new InvalidOperationException(
                $"{TypeName}.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_savedBatch}, length {_savedLength}.");
    }

    /// <summary>Back-propagates with <c>System.Numerics.Tensors</c> spans, without copying.</summary>
    /// <param name="gradOutput">A dense tensor span shaped like the last training forward's output.</param>
    /// <param name="gradInput">A dense (B, L, InputFeatures) tensor span, added to; an empty span when not needed.</param>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape.</exception>
    /// <exception cref="InvalidOperationException">No training forward pass precedes the call, or the call overlaps another call.</exception>
    public void Backward(in ReadOnlyTensorSpan<T> gradOutput, in TensorSpan<T> gradInput)
    {
        var (batch, length) = SavedShapeOrThrow();
        CheckOutputShape(gradOutput.Lengths, batch, length, nameof(gradOutput));
        if (!gradInput.IsEmpty) CheckShape(gradInput.Lengths, nameof(gradInput), [batch, length, InputFeatures], "batch, length, InputFeatures");
        Backward(gradOutput.AsFlatSpan(nameof(gradOutput)), gradInput.IsEmpty ? default : gradInput.AsFlatSpan(nameof(gradInput)));
    }

    /// <summary>
    /// Back-propagates with tensors: adds every parameter's gradient and, when <paramref name="gradInput"/> is given,
    /// ∂ℒ/∂input to it. Without it nothing is allocated and the input gradient is not computed (a training step needs only
    /// the parameters' gradients).
    /// </summary>
    /// <param name="gradOutput">A dense tensor shaped like the last training forward's output.</param>
    /// <param name="gradInput">Null, or a dense (B, L, InputFeatures) tensor that ∂ℒ/∂input is added to.</param>
    /// <exception cref="ArgumentNullException"><paramref name="gradOutput"/> is null.</exception>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape, or the two overlap.</exception>
    /// <exception cref="InvalidOperationException">No training forward pass precedes the call, or the call overlaps another call.</exception>
    public void Backward(Tensor<T> gradOutput, Tensor<T>? gradInput = null)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (gradInput is null) Backward(gradOutput.AsReadOnlyTensorSpan(), default(TensorSpan<T>));
        else Backward(gradOutput.AsReadOnlyTensorSpan(), gradInput.AsTensorSpan());
    }

    /// <summary>
    /// The module's backward math for the last training forward (whose shape is <paramref name="shape"/>): adds ∂ℒ/∂input
    /// to <paramref name="gradInput"/> unless it is empty, and the parameter gradients to <see cref="Parameter{T}.Gradient"/>.
    /// Called with checked arguments and the call guard held.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, shaped like the forward output.</param>
    /// <param name="gradInput">(B, L, InputFeatures) to add to, or empty.</param>
    /// <param name="shape">The shape of the last training forward.</param>
    protected abstract void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape);

    /// <summary>
    /// For containers: back-propagates into a buffer whose contents do not matter, so the module may write ∂ℒ/∂input
    /// there instead of adding it (parameter gradients are added as always). Saves the zeroing pass and the extra read of
    /// an adding kernel between the children of a block or a <see cref="Sequential{T}"/>.
    /// </summary>
    internal void BackwardReplacing(ReadOnlySpan<T> gradOutput, Span<T> gradInput)
    {
        using var scope = BeginBackward(gradOutput, gradInput, out var shape);
        if (gradInput.IsEmpty) BackwardCore(gradOutput, gradInput, shape);
        else BackwardReplacingCore(gradOutput, gradInput, shape);
    }

    /// <summary>
    /// For containers with a skip connection: writes ∂ℒ/∂input plus <paramref name="addend"/> (the skip's gradient) to a
    /// non-empty <paramref name="gradInput"/> whose contents do not matter, and adds the parameter gradients. The values are
    /// those of copying the addend and then running <see cref="Backward(ReadOnlySpan{T}, Span{T})"/>; a module that can add
    /// the addend in its own last pass over ∂input (BatchNorm) saves the copy.
    /// </summary>
    internal void BackwardPlus(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> addend, Span<T> gradInput)
    {
        Guard.Length(addend.Length, nameof(addend), "the length of gradInput", gradInput.Length);
        using var scope = BeginBackward(gradOutput, gradInput, out var shape);
        BackwardPlusCore(gradOutput, addend, gradInput, shape);
    }

    /// <summary>As <see cref="BackwardPlus"/>: the default copies the addend into <paramref name="gradInput"/> and runs <see cref="BackwardCore"/>.</summary>
    private protected virtual void BackwardPlusCore(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> addend, Span<T> gradInput, in SequenceShape shape)
    {
        Elementwise.Copy(addend, gradInput, Parallelism.MaxThreads);
        BackwardCore(gradOutput, gradInput, shape);
    }

    /// <summary><see cref="Backward(ReadOnlySpan{T}, Span{T})"/> when <paramref name="accumulate"/> is set, else <see cref="BackwardReplacing"/>.</summary>
    internal void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, bool accumulate)
    {
        if (accumulate) Backward(gradOutput, gradInput);
        else BackwardReplacing(gradOutput, gradInput);
    }

    /// <summary>
    /// Writes (rather than adds) ∂ℒ/∂input to a non-empty <paramref name="gradInput"/>, and adds the parameter gradients. The
    /// default clears the buffer and runs <see cref="BackwardCore"/>; most of the library's modules write directly (not
    /// BatchNorm, pooling or embedding, whose writes would need the same zeroing).
    /// </summary>
    private protected virtual void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        gradInput.Clear();
        BackwardCore(gradOutput, gradInput, shape);
    }

    /// <summary>
    /// Enters the call guard for a backward pass and gives the shape of the last training forward after checking the
    /// spans against it: the preamble of <see cref="Backward(ReadOnlySpan{T}, Span{T})"/>, for modules that add overloads.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output.</param>
    /// <param name="gradInput">∂ℒ/∂input, empty when not needed; must not overlap <paramref name="gradOutput"/>.</param>
    /// <param name="shape">Receives the shape of the last training forward.</param>
    /// <returns>The held call guard.</returns>
    /// <exception cref="InvalidOperationException">No training forward precedes the call, or it overlaps another call.</exception>
    /// <exception cref="ArgumentException">A length does not match the shape, or the spans overlap.</exception>
    protected CallScope BeginBackward(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> gradInput, out SequenceShape shape)
    {
        if (gradInput.Overlaps(gradOutput))
            throw new ArgumentException("gradInput overlaps gradOutput: ∂ℒ/∂input is added to gradInput while gradOutput is still read, so they must be separate buffers.", nameof(gradInput));
        int gradOutputLength = gradOutput.Length, gradInputLength = gradInput.Length;
        var scope = Calls.Enter(training: true, "Backward");
        try
        {
            if (_savedBatch < 0)
                throw new InvalidOperationException($"{TypeName}.Backward needs a training-mode Forward first (the backward pass uses what it kept).");
            shape = new SequenceShape(_savedBatch, _savedLength, _savedHasLengths ? _savedLengths.AsSpan(0, _savedBatch) : default);
            Guard.Length(gradOutputLength, "gradOutput", ReducesTime ? "batch, OutputFeatures" : "batch, length, OutputFeatures", OutputSize(_savedBatch, _savedLength));
            if (gradInputLength != 0)
                Guard.Length(gradInputLength, "gradInput", "batch, length, InputFeatures", _savedBatch, _savedLength, InputFeatures);
        }
        catch
        {
            scope.Dispose();
            throw;
        }
        return new CallScope(scope, null);
    }

    private (int Batch, int Length) SavedShapeOrThrow() => _savedBatch >= 0
        ? (_savedBatch, _savedLength)
        : throw new InvalidOperationException($"{TypeName}.Backward needs a training-mode Forward first (the backward pass uses what it kept).");

    // ───────────────────────────── streaming ─────────────────────────────

    /// <summary>Creates the streaming state of <paramref name="batch"/> streams, for <see cref="Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>.</summary>
    /// <param name="batch">The number of streams, at least 1.</param>
    /// <returns>A zero state (the start of new sequences).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The module, or a module in it, cannot stream; the message names it and says why.</exception>
    public StreamState<T> CreateState(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (FindNonStreaming("") is { } found)
        {
            var (path, culprit) = found;
            string who = path.Length == 0 ? $"{TypeName} cannot stream: it" : $"{TypeName} cannot stream: its module '{path}' ({culprit.TypeName})";
            throw new InvalidOperationException($"{who} {culprit.NonStreamingReason}. Use Forward on whole sequences.");
        }
        var state = CreateStateCore(batch);
        if (state is null || state.Batch != batch)
            throw new InvalidOperationException($"{TypeName}.CreateStateCore returned {(state is null ? "null" : $"a state of {state.Batch} streams")} for batch {batch}.");
        state.Owner = this;
        return state;
    }

    /// <summary>The state of a streaming module: by default a plain <see cref="StreamState{T}"/>; stateful modules return their own.</summary>
    /// <param name="batch">The number of streams, at least 1.</param>
    /// <returns>A zero state for <paramref name="batch"/> streams (with the children's states, for containers).</returns>
    protected virtual StreamState<T> CreateStateCore(int batch) => new(batch);

    /// <summary>
    /// Advances every stream by one time step: <paramref name="output"/> (batch, OutputFeatures) from
    /// <paramref name="input"/> (batch, InputFeatures), as an evaluation-mode forward pass over the sequences so far would
    /// give at this step (whatever <see cref="IsTraining"/> says: streaming is inference). Allocates nothing once the
    /// module's work space has been seen.
    /// </summary>
    /// <param name="input">This step's inputs, (state.Batch, InputFeatures).</param>
    /// <param name="output">This step's outputs, (state.Batch, OutputFeatures); must not overlap <paramref name="input"/>.</param>
    /// <param name="state">The streams' state from <see cref="CreateState"/> of this module.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">A span's length does not match, or <paramref name="state"/> was made by another module.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call on this module runs on another thread, or another thread is stepping <paramref name="state"/>.</exception>
    public void Step(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!ReferenceEquals(state.Owner, this))
            throw new ArgumentException($"state was made by {(state.Owner is Module<T> m ? $"another module (a {m.TypeName})" : "no module")}; a state steps the module whose CreateState made it.", nameof(state));
        Guard.Length(input.Length, nameof(input), "batch, InputFeatures", state.Batch, InputFeatures);
        Guard.Length(output.Length, nameof(output), "batch, OutputFeatures", state.Batch, OutputFeatures);
        using var scope = Calls.Enter(training: false, nameof(Step));
        using var use = state.Use(nameof(Step));
        StepCore(input, output, state);
        state.Steps++;
    }

    /// <summary>Advances every stream by one step with <c>System.Numerics.Tensors</c> spans: (B, InputFeatures) in, (B, OutputFeatures) out.</summary>
    /// <param name="input">A dense (state.Batch, InputFeatures) tensor span.</param>
    /// <param name="output">A dense (state.Batch, OutputFeatures) tensor span.</param>
    /// <param name="state">The streams' state.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape, or the state belongs to another module.</exception>
    /// <exception cref="InvalidOperationException">See <see cref="Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>.</exception>
    public void Step(in ReadOnlyTensorSpan<T> input, in TensorSpan<T> output, StreamState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        CheckShape(input.Lengths, nameof(input), [state.Batch, InputFeatures], "batch, InputFeatures");
        CheckShape(output.Lengths, nameof(output), [state.Batch, OutputFeatures], "batch, OutputFeatures");
        Step(input.AsFlatSpan(nameof(input)), output.AsFlatSpan(nameof(output)), state);
    }

    /// <summary>
    /// One time step of the module's math. The default, for modules whose output step depends only on the same input
    /// step, is the evaluation-mode <see cref="ForwardCore"/> over one step; modules with memory override it.
    /// </summary>
    /// <param name="input">(state.Batch, InputFeatures).</param>
    /// <param name="output">(state.Batch, OutputFeatures).</param>
    /// <param name="state">The streams' state, from <see cref="CreateStateCore"/>.</param>
    protected virtual void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state) =>
        ForwardCore(input, output, new SequenceShape(state.Batch, 1), training: false);

    private (string Path, Module<T> Module)? FindNonStreaming(string path)
    {
        if (CanStream) return null;
        if (StreamsWhenChildrenDo)
        {
            foreach (var (name, child) in _children)
            {
                if (child.FindNonStreaming(path.Length == 0 ? name : path + "." + name) is { } found) return found;
            }
        }
        return (path, this);
    }

    // ───────────────────────────── helpers for module authors ─────────────────────────────

    /// <summary>
    /// A work array of at least <paramref name="length"/> elements from a pool this module owns, for calls that may run on
    /// several threads at once (evaluation-mode forward passes); dispose the result to give it back. Contents are stale:
    /// write every element you read. Once the largest size and the largest number of concurrent calls have been seen,
    /// renting allocates nothing.
    /// </summary>
    /// <param name="length">The number of elements, at least 0.</param>
    /// <returns>The lease; its <see cref="Workspace.Span"/> has exactly <paramref name="length"/> elements.</returns>
    protected Workspace RentWorkspace(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var pool = _workspaces ?? Interlocked.CompareExchange(ref _workspaces, new WorkspacePool<T>(), null) ?? _workspaces!;
        return new Workspace(pool, pool.Rent(length), length);
    }

    /// <summary>The first <paramref name="length"/> elements of a buffer the module owns, replacing it by a larger array first if it is too short: the one way buffers grow.</summary>
    /// <typeparam name="TElement">The element type.</typeparam>
    /// <param name="buffer">The buffer field.</param>
    /// <param name="length">The number of elements needed.</param>
    /// <returns>A span of exactly <paramref name="length"/> elements (old contents kept when no growth was needed).</returns>
    protected static Span<TElement> Grow<TElement>(ref TElement[] buffer, int length) => Buffers.Grow(ref buffer, length);

    /// <inheritdoc/>
    public override string ToString() => $"{TypeName}({InputFeatures} → {OutputFeatures}{(ReducesTime ? ", pooled" : "")})";

    /// <summary>A work array leased from a module's pool (see <see cref="RentWorkspace"/>).</summary>
    protected readonly struct Workspace : IDisposable
    {
        private readonly WorkspacePool<T> _pool;
        private readonly T[] _array;
        private readonly int _length;

        internal Workspace(WorkspacePool<T> pool, T[] array, int length) => (_pool, _array, _length) = (pool, array, length);

        /// <summary>The leased elements.</summary>
        public Span<T> Span => _array.AsSpan(0, _length);

        /// <summary>Gives the array back.</summary>
        public void Dispose() => _pool?.Return(_array);
    }

    /// <summary>A held call guard (see <see cref="BeginForward"/>); dispose it when the call ends.</summary>
    protected readonly struct CallScope : IDisposable
    {
        private readonly CallGuard.Scope _scope;
        private readonly Module<T>? _training;

        internal CallScope(CallGuard.Scope scope, Module<T>? training) => (_scope, _training) = (scope, training);

        /// <summary>Marks a forward pass as done: a training pass's shape becomes the one its backward pass uses.</summary>
        public void Complete()
        {
            if (_training is { } module) (module._savedBatch, module._savedLength) = (module._pendingBatch, module._pendingLength);
        }

        /// <summary>Leaves the call.</summary>
        public void Dispose() => _scope.Dispose();
    }

    private void CheckFreeName(string name, string paramName)
    {
        bool taken = false;
        foreach (var p in _parameters) taken |= p.Name == name;
        foreach (var (b, _) in _buffers) taken |= b == name;
        foreach (var (c, _) in _children) taken |= c == name;
        if (taken) throw new ArgumentException($"{TypeName} already has a parameter, buffer or child named '{name}'.", paramName);
    }

    private static void CheckName(string name, string paramName)
    {
        ArgumentException.ThrowIfNullOrEmpty(name, paramName);
        if (name.Contains('.'))
            throw new ArgumentException($"The name '{name}' contains '.', which separates the levels of hierarchical names.", paramName);
    }

    private (int Batch, int Length) InputShape(ReadOnlySpan<nint> lengths, string paramName)
    {
        if (lengths.Length != 3 || lengths[2] != InputFeatures || lengths[0] > int.MaxValue || lengths[1] > int.MaxValue)
            throw new ArgumentException($"{paramName} has shape ({string.Join(", ", lengths.ToArray())}) but (batch, length, {InputFeatures}) is required.", paramName);
        return ((int)lengths[0], (int)lengths[1]);
    }

    private nint[] OutputLengths(int batch, int length) => ReducesTime ? [batch, OutputFeatures] : [batch, length, OutputFeatures];

    private void CheckOutputShape(ReadOnlySpan<nint> lengths, int batch, int length, string paramName)
    {
        if (ReducesTime) CheckShape(lengths, paramName, [batch, OutputFeatures], "batch, OutputFeatures");
        else CheckShape(lengths, paramName, [batch, length, OutputFeatures], "batch, length, OutputFeatures");
    }

    private static void CheckShape(ReadOnlySpan<nint> actual, string paramName, ReadOnlySpan<nint> expected, string names)
    {
        if (!actual.SequenceEqual(expected))
            throw new ArgumentException($"{paramName} has shape ({string.Join(", ", actual.ToArray())}) but ({names}) = ({string.Join(", ", expected.ToArray())}) is required.", paramName);
    }
}
