using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Lru.Modules;
using Lru.Scans;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The Linear Recurrent Unit layer (LRU-MATH §1):
/// <c>x_t = λ ⊙ x_{t-1} + γ ⊙ (B u_t)</c>, <c>y_t = Re(C x_t) + D ⊙ u_t</c>, with
/// <c>λ = exp(−exp(nu_log) + i·exp(theta_log))</c> and <c>γ = exp(gamma_log)</c>.
/// Input and output are <c>(B, L, H)</c>; the state has <c>N</c> complex channels.
/// </summary>
/// <remarks>
/// A forward pass is two GEMMs around one complex-diagonal scan: <c>X = U·W_inᵀ</c>, the scan
/// over <c>X</c> in place, then <c>Y = X·W_outᵀ + D ⊙ U</c>, where <c>W_in = [γ⊙B_re; γ⊙B_im]</c>
/// (2N × H) and <c>W_out = [C_re | −C_im]</c> (H × 2N) are derived from the parameters and cached
/// until a parameter's <see cref="Parameter{T}.Version"/> changes.
/// Evaluation-mode <c>Forward</c> calls and <c>Step</c> calls (each stream with its own <see cref="LruState{T}"/>)
/// may run on several threads at once as long as no thread modifies the parameters meanwhile: the derived weights
/// are built once under a lock, and each forward pass takes its state buffers from a pool the layer owns. Training
/// (a training-mode <c>Forward</c>, then <c>Backward</c>) is single-threaded; an overlapping call throws
/// <see cref="InvalidOperationException"/> (see <see cref="Module{T}"/>).
/// <para>With <see cref="LruConfig.Reverse"/> the recurrence runs backwards in time, <c>x_t = λ ⊙ x_{t+1} + γ ⊙ (B u_t)</c>
/// from <c>t = L − 1</c> down to 0 (the backward half of a bidirectional LRU); such a layer cannot stream.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed partial class LruLayer<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly object _derivedLock = new();
    private readonly T[] _lambdaRe, _lambdaIm, _inputWeightsT, _outputWeightsT;
    private readonly Parameter<T>[] _all;
    private long _derivedVersion = -1;

    // The streaming step's weights (W_inᵀ, W_outᵀ and a matrix Dᵀ) in panels; built on the first Step.
    private PanelMatrix<T>? _stepInput, _stepOutput, _stepSkip;
    private long _packedVersion = -1;

    // Kept by a training forward pass for the backward pass (owned, grown on first use).
    private T[] _cachedInput = [], _cachedStates = [], _cachedInitial = [];
    private bool _cachedHasInitial;

    // Backward work space (owned, grown on first use).
    private T[] _gradStates = [], _gradOutputWeights = [], _gradInputWeights = [], _weightShares = [];

    /// <summary>Creates a layer with ring initialisation (LRU-MATH §1).</summary>
    /// <param name="config">Sizes and initialisation ranges.</param>
    /// <param name="seed">The seed of the initialisation; the same seed gives identical parameters.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting of <paramref name="config"/> is out of range (see <see cref="LruConfig.Validate"/>).</exception>
    public LruLayer(LruConfig config, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int h = config.Hidden, n = config.State;
        NuLog = RegisterParameter(new Parameter<T>("nu_log", n));
        ThetaLog = RegisterParameter(new Parameter<T>("theta_log", n));
        GammaLog = RegisterParameter(new Parameter<T>("gamma_log", n));
        BRe = RegisterParameter(new Parameter<T>("B_re", n, h));
        BIm = RegisterParameter(new Parameter<T>("B_im", n, h));
        CRe = RegisterParameter(new Parameter<T>("C_re", h, n));
        CIm = RegisterParameter(new Parameter<T>("C_im", h, n));
        D = RegisterParameter(config.MatrixD ? new Parameter<T>("D", h, h) : new Parameter<T>("D", h));
        _all = [NuLog, ThetaLog, GammaLog, BRe, BIm, CRe, CIm, D];
        _lambdaRe = new T[n];
        _lambdaIm = new T[n];
        _inputWeightsT = new T[h * 2 * n];
        _outputWeightsT = new T[2 * n * h];
        Initialize(new SeededRandom(seed));
    }

    /// <summary>The configuration the layer was created with.</summary>
    public LruConfig Config { get; }

    /// <summary>The model width <c>H</c>.</summary>
    public int Hidden => Config.Hidden;

    /// <inheritdoc/>
    public override int InputFeatures => Config.Hidden;

    /// <inheritdoc/>
    public override int OutputFeatures => Config.Hidden;

    /// <summary>The scan algorithm of the forward and backward passes that do not name one.</summary>
    public ScanMode Scan { get; set; } = ScanMode.Auto;

    /// <summary>
    /// The names of the recurrent parameters, <c>nu_log, theta_log, gamma_log, B_re, B_im</c>: the paper's recipe trains
    /// them with a reduced learning rate and no weight decay (see <c>Lru.Training.OptimizerSettings</c>).
    /// </summary>
    public static IReadOnlyList<string> RecurrentParameterNames { get; } = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im"];

    /// <summary>True unless the layer runs backwards in time (<see cref="LruConfig.Reverse"/>).</summary>
    public override bool CanStream => !Config.Reverse;

    /// <inheritdoc/>
    protected override string NonStreamingReason => "runs backwards in time (LruConfig.Reverse), so each output depends on later inputs";

    /// <summary>The number of complex state channels <c>N</c>.</summary>
    public int StateSize => Config.State;

    /// <summary><c>nu_log</c> (N): <c>|λ| = exp(−exp(nu_log))</c>.</summary>
    public Parameter<T> NuLog { get; }

    /// <summary><c>theta_log</c> (N): <c>arg λ = exp(theta_log)</c>.</summary>
    public Parameter<T> ThetaLog { get; }

    /// <summary><c>gamma_log</c> (N): the input normalisation <c>γ = exp(gamma_log)</c>.</summary>
    public Parameter<T> GammaLog { get; }

    /// <summary><c>B_re</c> (N × H): real part of the input matrix.</summary>
    public Parameter<T> BRe { get; }

    /// <summary><c>B_im</c> (N × H): imaginary part of the input matrix.</summary>
    public Parameter<T> BIm { get; }

    /// <summary><c>C_re</c> (H × N): real part of the output matrix.</summary>
    public Parameter<T> CRe { get; }

    /// <summary><c>C_im</c> (H × N): imaginary part of the output matrix.</summary>
    public Parameter<T> CIm { get; }

    /// <summary><c>D</c> (H): the elementwise skip connection; (H × H) with <see cref="LruConfig.MatrixD"/>.</summary>
    public Parameter<T> D { get; }

    /// <summary>The eight parameters in the order of LRU-MATH §1.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _all;

    /// <summary>Re-draws every parameter with the ring initialisation of LRU-MATH §1.</summary>
    /// <param name="random">The generator; draws happen in a fixed order, so a seed fixes the result.</param>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public void Initialize(SeededRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        int h = Hidden, n = StateSize;
        double rMin2 = Config.RMin * Config.RMin, rMax2 = Config.RMax * Config.RMax;
        for (int i = 0; i < n; i++)
        {
            double u1 = random.NextOpenUnit(), u2 = random.NextOpenUnit();
            double nuLog = Math.Log(-0.5 * Math.Log(u1 * (rMax2 - rMin2) + rMin2));
            double modulus = Math.Exp(-Math.Exp(nuLog));
            NuLog.Values[i] = T.CreateChecked(nuLog);
            ThetaLog.Values[i] = T.CreateChecked(Math.Log(Config.MaxPhase * u2));
            GammaLog.Values[i] = T.CreateChecked(Math.Log(Math.Sqrt(1 - modulus * modulus)));
        }
        FillNormal(random, BRe.Values, Math.Sqrt(1.0 / (2 * h)));
        FillNormal(random, BIm.Values, Math.Sqrt(1.0 / (2 * h)));
        FillNormal(random, CRe.Values, Math.Sqrt(1.0 / n));
        FillNormal(random, CIm.Values, Math.Sqrt(1.0 / n));
        FillNormal(random, D.Values, Config.MatrixD ? 1.0 / Math.Sqrt(h) : 1.0);
        foreach (var p in Parameters) p.MarkModified();
    }

    /// <summary>Computes <c>λ</c> (complex, length N) from <c>nu_log</c> and <c>theta_log</c>, in double precision then rounded.</summary>
    /// <param name="lambdaRe">Receives Re λ (length N).</param>
    /// <param name="lambdaIm">Receives Im λ (length N).</param>
    /// <exception cref="ArgumentException">A span's length is not N.</exception>
    public void ComputeLambda(Span<T> lambdaRe, Span<T> lambdaIm)
    {
        int n = StateSize;
        Guard.Length(lambdaRe.Length, nameof(lambdaRe), "N", n);
        Guard.Length(lambdaIm.Length, nameof(lambdaIm), "N", n);
        for (int i = 0; i < n; i++)
        {
            double modulus = Math.Exp(-Math.Exp(double.CreateChecked(NuLog.Value[i])));
            double phase = Math.Exp(double.CreateChecked(ThetaLog.Value[i]));
            lambdaRe[i] = T.CreateChecked(modulus * Math.Cos(phase));
            lambdaIm[i] = T.CreateChecked(modulus * Math.Sin(phase));
        }
    }

    /// <summary>Creates a zero state for streaming <paramref name="batch"/> sequences with <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>.</summary>
    /// <param name="batch">The number of streams, at least 1.</param>
    /// <returns>The state, typed so its values can be read.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The layer runs backwards in time and cannot stream.</exception>
    public new LruState<T> CreateState(int batch) => (LruState<T>)base.CreateState(batch);

    /// <inheritdoc/>
    protected override StreamState<T> CreateStateCore(int batch) => new LruState<T>(batch, StateSize);

    /// <summary>
    /// Runs the layer over whole sequences from a given state: <paramref name="output"/> (B, L, H) from
    /// <paramref name="input"/> (B, L, H), in the layer's mode (<see cref="Module{T}.IsTraining"/>).
    /// </summary>
    /// <param name="input">The inputs <c>u</c>, shape (batch, length, H), row-major.</param>
    /// <param name="output">Receives <c>y</c>, shape (batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size <c>B</c>.</param>
    /// <param name="length">The sequence length <c>L</c>.</param>
    /// <param name="initialState">Empty for a zero state, or (batch, 2N) as in <see cref="LruState{T}.Values"/>: the state before the first step (the last, for a reverse layer), to continue a sequence processed in pieces.</param>
    /// <param name="finalState">Empty, or (batch, 2N): receives the state after the last step processed.</param>
    /// <param name="mode">The scan algorithm; every mode gives the same values up to rounding.</param>
    /// <param name="threads">The largest number of threads (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="ArgumentException">A span's length does not match the shape; the message gives both.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative, or <paramref name="threads"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer (see <see cref="Module{T}"/>).</exception>
    public void ForwardWithState(
        ReadOnlySpan<T> input, Span<T> output, int batch, int length,
        ReadOnlySpan<T> initialState, Span<T> finalState = default,
        ScanMode mode = ScanMode.Auto, int? threads = null)
    {
        var shape = new SequenceShape(batch, length);
        int n = StateSize;
        if (!initialState.IsEmpty) Guard.Length(initialState.Length, nameof(initialState), "batch, 2N", batch, 2 * n);
        if (!finalState.IsEmpty) Guard.Length(finalState.Length, nameof(finalState), "batch, 2N", batch, 2 * n);
        int workers = Parallelism.Resolve(threads);
        bool training = IsTraining;
        using var scope = BeginForward(input.Length, output.Length, shape, training);
        Run(input, output, shape, initialState, finalState, mode, workers, training);
        scope.Complete();
    }

    /// <summary>
    /// As <see cref="ForwardWithState(ReadOnlySpan{T}, Span{T}, int, int, ReadOnlySpan{T}, Span{T}, ScanMode, int?)"/>, on
    /// <c>System.Numerics.Tensors</c> spans without copying: input and output (B, L, H), states (B, 2N) or empty.
    /// </summary>
    /// <param name="input">A dense (B, L, H) tensor span.</param>
    /// <param name="output">A dense (B, L, H) tensor span.</param>
    /// <param name="initialState">An empty span for a zero state, or a dense (B, 2N) tensor span.</param>
    /// <param name="finalState">An empty span, or a dense (B, 2N) tensor span that receives the state after the last step processed.</param>
    /// <param name="mode">The scan algorithm.</param>
    /// <param name="threads">The largest number of threads (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape (the message gives expected and actual shapes).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer.</exception>
    public void ForwardWithState(in ReadOnlyTensorSpan<T> input, in TensorSpan<T> output, in ReadOnlyTensorSpan<T> initialState, in TensorSpan<T> finalState,
        ScanMode mode = ScanMode.Auto, int? threads = null)
    {
        var (batch, length) = Guard.SequenceShape(input.Lengths, Hidden, nameof(input));
        Guard.TensorShape(output.Lengths, nameof(output), "batch, length, H", batch, length, Hidden);
        if (!initialState.IsEmpty) Guard.TensorShape(initialState.Lengths, nameof(initialState), "batch, 2N", batch, 2 * StateSize);
        if (!finalState.IsEmpty) Guard.TensorShape(finalState.Lengths, nameof(finalState), "batch, 2N", batch, 2 * StateSize);
        ForwardWithState(input.AsFlatSpan(nameof(input)), output.AsFlatSpan(nameof(output)), batch, length,
            initialState.IsEmpty ? default : initialState.AsFlatSpan(nameof(initialState)), finalState.IsEmpty ? default : finalState.AsFlatSpan(nameof(finalState)), mode, threads);
    }

    /// <summary>From a zero state, with <see cref="Scan"/> and <see cref="Parallelism.MaxThreads"/> threads.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training) =>
        Run(input, output, shape, default, default, Scan, Parallelism.MaxThreads, training);

    /// <summary>Two GEMMs around one scan (LRU-MATH §1); a training pass keeps <c>u</c>, the states <c>x</c> and the initial state.</summary>
    private void Run(
        ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, ReadOnlySpan<T> initialState, Span<T> finalState,
        ScanMode mode, int workers, bool training)
    {
        int h = Hidden, n = StateSize, batch = shape.Batch, length = shape.Length, m = shape.Rows;
        if (m == 0)
        {
            if (!finalState.IsEmpty)
            {
                if (initialState.IsEmpty) finalState.Clear(); else initialState.CopyTo(finalState);
            }
            return;
        }

        EnsureDerived();
        if (training)
        {
            Elementwise.Copy(input[..(m * h)], Grow(ref _cachedInput, m * h), workers);
            _cachedHasInitial = !initialState.IsEmpty;
            if (_cachedHasInitial) initialState.CopyTo(Grow(ref _cachedInitial, batch * 2 * n));
        }
        if (Fuses(mode, batch, length, workers))
        {
            RunFused(input, output, training ? Grow(ref _cachedStates, checked(m * 2 * n)) : default, batch, length, initialState, finalState, workers);
            return;
        }
        using var rented = training ? default : RentWorkspace(checked(m * 2 * n));
        Span<T> states = training ? Grow(ref _cachedStates, checked(m * 2 * n)) : rented.Span;
        if (Pipelines(mode, batch, length, workers))
        {
            RunPipelined(input, output, states, batch, length, initialState, finalState);
            return;
        }

        // X = U · W_inᵀ  (BL × H)·(H × 2N); then the scan turns γ⊙B u_t into x_t in place.
        Gemm.Multiply<T>(input, _inputWeightsT, states, m, 2 * n, h, threads: workers);
        DiagonalRecurrence.Scan<T>(_lambdaRe, _lambdaIm, states, batch, length, initialState, reverse: Config.Reverse, mode, workers);
        if (!finalState.IsEmpty)
        {
            int last = Config.Reverse ? 0 : length - 1;
            for (int b = 0; b < batch; b++)
                states.Slice((b * length + last) * 2 * n, 2 * n).CopyTo(finalState.Slice(b * 2 * n, 2 * n));
        }

        // Y = D ⊙ U (or U·Dᵀ) + X · W_outᵀ  (BL × 2N)·(2N × H).
        ApplySkip(input, output, m, workers);
        Gemm.Multiply<T>(states, _outputWeightsT, output, m, h, 2 * n, accumulate: true, threads: workers);
    }

    /// <summary>
    /// Back-propagates through the last training forward pass (LRU-MATH §4): adds ∂ℒ/∂u to <paramref name="gradInput"/>,
    /// ∂ℒ/∂x_0 to <paramref name="gradInitialState"/>, and the gradients of all eight parameters to their <see cref="Parameter{T}.Gradient"/>.
    /// Four GEMMs and one scan of the same family as the forward pass, the other way in time (the two weight-gradient
    /// products summed per sequence when the shape allows, see <c>SharesWeightGradients</c>).
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂y, (batch, length, H).</param>
    /// <param name="gradInput">∂ℒ/∂u is added to it, (batch, length, H); empty to skip.</param>
    /// <param name="batch">The batch size of the last forward pass.</param>
    /// <param name="length">The sequence length of the last forward pass.</param>
    /// <param name="gradInitialState">∂ℒ/∂x_0 as (batch, 2N) [∂/∂Re | ∂/∂Im] is added to it (like every input gradient); empty to skip.</param>
    /// <param name="mode">The scan algorithm for the backward scan.</param>
    /// <param name="threads">The largest number of threads (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="InvalidOperationException">The last forward pass was not a training pass of this batch and length, or the call overlaps another call on this layer.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative, or <paramref name="threads"/> is less than 1.</exception>
    public void BackwardWithState(
        ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length,
        Span<T> gradInitialState, ScanMode mode = ScanMode.Auto, int? threads = null)
    {
        CheckSavedShape(batch, length);
        int workers = Parallelism.Resolve(threads);
        using var scope = BeginBackward(gradOutput, gradInput, out var shape);
        if (!gradInitialState.IsEmpty) Guard.Length(gradInitialState.Length, nameof(gradInitialState), "batch, 2N", batch, 2 * StateSize);
        Backprop(gradOutput, gradInput, shape, gradInitialState, mode, workers);
    }

    /// <summary>
    /// As <see cref="BackwardWithState(ReadOnlySpan{T}, Span{T}, int, int, Span{T}, ScanMode, int?)"/>, on <c>System.Numerics.Tensors</c>
    /// spans without copying: ∂ℒ/∂y and ∂ℒ/∂u (B, L, H), ∂ℒ/∂x_0 (B, 2N); the last two may be empty.
    /// </summary>
    /// <param name="gradOutput">A dense (B, L, H) tensor span: ∂ℒ/∂y of the last training forward.</param>
    /// <param name="gradInput">An empty span, or a dense (B, L, H) tensor span that ∂ℒ/∂u is added to.</param>
    /// <param name="gradInitialState">An empty span, or a dense (B, 2N) tensor span that ∂ℒ/∂x_0 is added to.</param>
    /// <param name="mode">The scan algorithm.</param>
    /// <param name="threads">The largest number of threads (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="ArgumentException">A tensor is not dense or has the wrong shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this layer.</exception>
    public void BackwardWithState(in ReadOnlyTensorSpan<T> gradOutput, in TensorSpan<T> gradInput, in TensorSpan<T> gradInitialState,
        ScanMode mode = ScanMode.Auto, int? threads = null)
    {
        var (batch, length) = Guard.SequenceShape(gradOutput.Lengths, Hidden, nameof(gradOutput));
        if (!gradInput.IsEmpty) Guard.TensorShape(gradInput.Lengths, nameof(gradInput), "batch, length, H", batch, length, Hidden);
        if (!gradInitialState.IsEmpty) Guard.TensorShape(gradInitialState.Lengths, nameof(gradInitialState), "batch, 2N", batch, 2 * StateSize);
        BackwardWithState(gradOutput.AsFlatSpan(nameof(gradOutput)), gradInput.IsEmpty ? default : gradInput.AsFlatSpan(nameof(gradInput)), batch, length,
            gradInitialState.IsEmpty ? default : gradInitialState.AsFlatSpan(nameof(gradInitialState)), mode, threads);
    }

    /// <summary>With <see cref="Scan"/> and <see cref="Parallelism.MaxThreads"/> threads.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, default, Scan, Parallelism.MaxThreads);

    /// <summary>As <see cref="BackwardCore"/>, writing ∂ℒ/∂u.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, default, Scan, Parallelism.MaxThreads, accumulate: false);

    private void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, Span<T> gradInitialState, ScanMode mode, int workers,
        bool accumulate = true)
    {
        int h = Hidden, n = StateSize, batch = shape.Batch, length = shape.Length, m = shape.Rows;
        if (m == 0) return; // no step: nothing reaches x_0
        EnsureDerived();

        ReadOnlySpan<T> u = _cachedInput.AsSpan(0, m * h), x = _cachedStates.AsSpan(0, m * 2 * n);
        Span<T> delta = Grow(ref _gradStates, m * 2 * n);

        // ∂D += Gᵀ·U for a matrix D (a diagonal D's Σ_t g_t ⊙ u_t is summed per sequence below).
        if (Config.MatrixD)
            Gemm.Multiply<T>(gradOutput, u, D.Gradient, h, h, m, transposeA: true, accumulate: true, threads: workers);

        // Gᵀ·X (H × 2N) for ∂C and Δᵀ·U (2N × H) for ∂B: one GEMM each over all rows, or, when the shape allows, each
        // sequence's share summed chunk by chunk while its rows are in cache (in the fused backward or after the scan)
        // and the shares summed in sequence order.
        Span<T> gradW = Grow(ref _gradOutputWeights, h * 2 * n), gradV = Grow(ref _gradInputWeights, 2 * n * h);
        bool shareWeights = SharesWeightGradients(mode, batch, length);
        Span<T> weightShares = shareWeights ? Grow(ref _weightShares, checked(batch * 4 * h * n)) : default;
        bool fused = Fuses(mode, batch, length, workers), pipelined = !fused && Pipelines(mode, batch, length, workers);
        if (!shareWeights && !pipelined)
            Gemm.Multiply<T>(gradOutput, x, gradW, h, 2 * n, m, transposeA: true, threads: workers);

        // q_t = Cᴴ g_t = G · W_out  (W_out = (W_outᵀ)ᵀ), then δ_t = q_t + conj(λ) ⊙ δ_next, the other way in time; each
        // sequence's shares of G_λ, of a diagonal ∂D and of the weight-gradient products (when shared); ∂u_t (+)= D ⊙ g_t
        // (or Dᵀ g_t for a matrix D) + Δ · (W_inᵀ)ᵀ. Fused per sequence when it can be.
        // A row of shares per sequence, in whole cache lines plus one, so that rows summed on different cores never share a line.
        int line = 64 / Unsafe.SizeOf<T>(), shares = (2 * n + (Config.MatrixD ? 0 : h) + line - 1) / line * line + line;
        T[] negatedIm = ArrayPool<T>.Shared.Rent(n);
        T[] partials = ArrayPool<T>.Shared.Rent(batch * shares);
        try
        {
            TensorPrimitives.Negate(_lambdaIm, negatedIm.AsSpan(0, n));
            Span<T> perSequence = partials.AsSpan(0, batch * shares);
            perSequence.Clear();
            if (fused)
            {
                BackpropFused(gradOutput, gradInput, delta, perSequence, weightShares, negatedIm.AsSpan(0, n), batch, length, accumulate, workers);
            }
            else if (pipelined)
            {
                // Gᵀ·X on the consumer while the producer scans, unless it is summed per sequence (after Δ is complete).
                BackpropPipelined(gradOutput, gradInput, delta, perSequence, shareWeights ? default : gradW, negatedIm.AsSpan(0, n), batch, length, accumulate);
                if (shareWeights) AccumulateSequenceWeightShares(gradOutput, delta, batch, length, weightShares, workers);
            }
            else
            {
                Gemm.Multiply<T>(gradOutput, _outputWeightsT, delta, m, 2 * n, h, transposeB: true, threads: workers);
                DiagonalRecurrence.Scan<T>(_lambdaRe, negatedIm.AsSpan(0, n), delta, batch, length, default, reverse: !Config.Reverse, mode, workers);
                AccumulateSequenceShares(gradOutput, delta, batch, length, perSequence);
                if (shareWeights) AccumulateSequenceWeightShares(gradOutput, delta, batch, length, weightShares, workers);
                if (!gradInput.IsEmpty)
                {
                    if (Config.MatrixD)
                        Gemm.Multiply<T>(gradOutput, D.Value, gradInput, m, h, h, accumulate: accumulate, threads: workers);
                    else
                        Elementwise.MultiplyRows<T>(gradOutput, D.Value, gradInput, m, accumulate, workers);
                    Gemm.Multiply<T>(delta, _inputWeightsT, gradInput, m, h, 2 * n, transposeB: true, accumulate: true, threads: workers);
                }
            }
            AddSequenceShares(perSequence, batch);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(negatedIm);
            ArrayPool<T>.Shared.Return(partials);
        }

        if (shareWeights)
        {
            // The shares are batch rows of Gᵀ·X, then batch rows of Δᵀ·U; their column sums, each in sequence order, are the products.
            gradW.Clear();
            gradV.Clear();
            int size = 2 * h * n;
            Elementwise.AddColumnSums<T>(weightShares[..(batch * size)], gradW, batch, workers);
            Elementwise.AddColumnSums<T>(weightShares[(batch * size)..], gradV, batch, workers);
        }
        else
        {
            Gemm.Multiply<T>(delta, u, gradV, 2 * n, h, m, transposeA: true, threads: workers);
        }

        // ∂C from Gᵀ·X = [Σ g x_reᵀ | Σ g x_imᵀ]: ∂C_re += left half, ∂C_im −= right half.
        Span<T> gradCRe = CRe.Gradient, gradCIm = CIm.Gradient;
        for (int i = 0; i < h; i++)
        {
            TensorPrimitives.Add(gradCRe.Slice(i * n, n), gradW.Slice(i * 2 * n, n), gradCRe.Slice(i * n, n));
            TensorPrimitives.Subtract(gradCIm.Slice(i * n, n), gradW.Slice(i * 2 * n + n, n), gradCIm.Slice(i * n, n));
        }

        // ∂B from Δᵀ·U = [Σ δ_re uᵀ ; Σ δ_im uᵀ]: ∂B_re,im += γ ⊙ rows, ∂gamma_log += rowsum(B ⊙ γ rows).
        Span<T> gradBRe = BRe.Gradient, gradBIm = BIm.Gradient, gradGamma = GammaLog.Gradient;
        for (int j = 0; j < n; j++)
        {
            T gamma = T.Exp(GammaLog.Value[j]);
            Span<T> re = gradV.Slice(j * h, h), im = gradV.Slice((n + j) * h, h);
            TensorPrimitives.Multiply(re, gamma, re);
            TensorPrimitives.Multiply(im, gamma, im);
            TensorPrimitives.Add(gradBRe.Slice(j * h, h), re, gradBRe.Slice(j * h, h));
            TensorPrimitives.Add(gradBIm.Slice(j * h, h), im, gradBIm.Slice(j * h, h));
            gradGamma[j] += TensorPrimitives.Dot<T>(BRe.Value.Slice(j * h, h), re) + TensorPrimitives.Dot<T>(BIm.Value.Slice(j * h, h), im);
        }

        // ∂x_0 += conj(λ) ⊙ δ at the first step processed (t = 0, or t = L − 1 for a reverse layer).
        if (!gradInitialState.IsEmpty)
        {
            int first = Config.Reverse ? length - 1 : 0;
            for (int b = 0; b < batch; b++)
            {
                ReadOnlySpan<T> d1 = delta.Slice((b * length + first) * 2 * n, 2 * n);
                Span<T> g0 = gradInitialState.Slice(b * 2 * n, 2 * n);
                for (int j = 0; j < n; j++)
                {
                    T lr = _lambdaRe[j], li = _lambdaIm[j], dr = d1[j], di = d1[n + j];
                    g0[j] += lr * dr + li * di;
                    g0[n + j] += lr * di - li * dr;
                }
            }
        }
    }

    /// <summary>
    /// Each sequence's shares of G_λ = Σ_t δ_t ⊙ conj(x_prev) and (diagonal D) of ∂D = Σ_t g_t ⊙ u_t into
    /// <paramref name="shares"/> (batch rows of [G_λ (2N) | ∂D (H)], zeroed), chunk by chunk in the order of the backward
    /// scan, the steps of a chunk going up: the order of the fused backward, so both paths give the same bits.
    /// </summary>
    private unsafe void AccumulateSequenceShares(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> delta, int batch, int length, Span<T> shares)
    {
        int steps = ChunkSteps, chunks = (length + steps - 1) / steps, stride = shares.Length / batch;
        fixed (T* pg = gradOutput, pd = delta, px = _cachedStates, pu = _cachedInput, pInit = _cachedInitial, ps = shares)
        {
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < chunks; i++)
                {
                    var (t0, rows) = Chunk(i, chunks, steps, length, descending: !Config.Reverse);
                    AccumulateShares(pg, pd, px, pu, _cachedHasInitial ? pInit : null, b, length, t0, rows, ps + (nint)b * stride);
                }
        }
    }

    /// <summary>
    /// Each sequence's shares of <c>Gᵀ·X</c> and <c>Δᵀ·U</c> into <paramref name="shares"/> (see
    /// <see cref="AccumulateWeightShares"/>), chunk by chunk in the order of the backward scan as the fused backward
    /// sums them, each chunk's products on up to <paramref name="workers"/> threads (the GEMM's result does not depend on them).
    /// </summary>
    private unsafe void AccumulateSequenceWeightShares(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> delta, int batch, int length, Span<T> shares, int workers)
    {
        int steps = ChunkSteps, chunks = (length + steps - 1) / steps;
        fixed (T* pg = gradOutput, pd = delta, px = _cachedStates, pu = _cachedInput, ps = shares)
        {
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < chunks; i++)
                {
                    var (t0, rows) = Chunk(i, chunks, steps, length, descending: !Config.Reverse);
                    AccumulateWeightShares(pg, pd, px, pu, b, batch, length, t0, rows, ps, first: i == 0, workers);
                }
        }
    }

    /// <summary>
    /// Adds sequence <paramref name="b"/>'s steps [t0, t0 + rows) to its shares of the weight-gradient products
    /// (<paramref name="shares"/>: batch rows of <c>Gᵀ·X</c> (H × 2N each), then batch rows of <c>Δᵀ·U</c> (2N × H each)),
    /// overwriting them for the <paramref name="first"/> chunk.
    /// </summary>
    private unsafe void AccumulateWeightShares(T* gradOutput, T* delta, T* x, T* u, int b, int batch, int length, int t0, int rows,
        T* shares, bool first, int threads)
    {
        int h = Hidden, w = 2 * StateSize, size = h * w;
        nint row = (nint)b * length + t0;
        T beta = first ? T.Zero : T.One;
        Gemm.Multiply<T>(new ReadOnlySpan<T>(gradOutput + row * h, rows * h), h, transposeA: true,
            new ReadOnlySpan<T>(x + row * w, rows * w), w, transposeB: false,
            new Span<T>(shares + (nint)b * size, size), w, h, w, rows, T.One, beta, threads);
        Gemm.Multiply<T>(new ReadOnlySpan<T>(delta + row * w, rows * w), w, transposeA: true,
            new ReadOnlySpan<T>(u + row * h, rows * h), h, transposeB: false,
            new Span<T>(shares + ((nint)batch + b) * size, size), h, w, h, rows, T.One, beta, threads);
    }

    /// <summary>
    /// Sums the sequences' shares in order; then ∂D += the ∂D share (diagonal D), ∂nu_log += −exp(nu_log) ⊙ Re(conj(G_λ) ⊙ λ)
    /// and ∂theta_log += −exp(theta_log) ⊙ Im(conj(G_λ) ⊙ λ). The order of every sum is fixed, so it does not depend on threads.
    /// </summary>
    private void AddSequenceShares(Span<T> shares, int batch)
    {
        int n = StateSize, stride = shares.Length / batch;
        Span<T> total = shares[..stride];
        for (int b = 1; b < batch; b++) TensorPrimitives.Add(total, shares.Slice(b * stride, stride), total);
        if (!Config.MatrixD) TensorPrimitives.Add(D.Gradient, total.Slice(2 * n, Hidden), D.Gradient);
        Span<T> gRe = total[..n], gIm = total[n..(2 * n)];
        Span<T> gradNu = NuLog.Gradient, gradTheta = ThetaLog.Gradient;
        for (int j = 0; j < n; j++)
        {
            T lr = _lambdaRe[j], li = _lambdaIm[j];
            // conj(G)·λ = (gr − i gi)(lr + i li) = (gr lr + gi li) + i(gr li − gi lr)
            T re = gRe[j] * lr + gIm[j] * li, im = gRe[j] * li - gIm[j] * lr;
            gradNu[j] -= T.Exp(NuLog.Value[j]) * re;
            gradTheta[j] -= T.Exp(ThetaLog.Value[j]) * im;
        }
    }

    /// <summary>
    /// One step: <c>x ← λ ⊙ x + γ⊙B u_t</c>, <c>y_t = Re(C x) + D ⊙ u_t</c>, with the weights in panels (built on the first
    /// step and whenever a parameter changed). Allocates nothing. Stepping through a sequence gives the same outputs as
    /// the forward pass.
    /// </summary>
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        var lru = (LruState<T>)state;
        int n = StateSize, batch = state.Batch;
        EnsureDerived(forStep: true);

        // scratch = γ⊙B u_t; x ← λ ⊙ x + scratch; y = Re(C x) + D ⊙ u_t.
        T[] x = lru.Values, scratch = lru.Scratch;
        _stepInput!.MultiplyRows(input, scratch.AsSpan(0, batch * 2 * n), batch, accumulate: false);
        StepState(x, scratch, batch, n);
        if (Config.MatrixD)
            _stepSkip!.MultiplyRows(input, output, batch, accumulate: false);
        else
            RowOps.MultiplyRows<T>(input, D.Value, output, batch);
        _stepOutput!.MultiplyRows(x.AsSpan(0, batch * 2 * n), output, batch, accumulate: true);
    }

    /// <summary><c>output = D ⊙ input</c> row by row, or <c>input · Dᵀ</c> for a matrix D; <paramref name="rows"/> rows of H.</summary>
    private void ApplySkip(ReadOnlySpan<T> input, Span<T> output, int rows, int workers)
    {
        int h = Hidden;
        if (Config.MatrixD)
        {
            Gemm.Multiply<T>(input, D.Value, output, rows, h, h, transposeB: true, threads: workers);
            return;
        }
        Elementwise.MultiplyRows<T>(input[..(rows * h)], D.Value, output[..(rows * h)], rows, accumulate: false, workers);
    }

    private unsafe void StepState(T[] x, T[] scratch, int batch, int n)
    {
        fixed (T* lr = _lambdaRe, li = _lambdaIm, px = x, ps = scratch)
        {
            for (int b = 0; b < batch; b++)
            {
                T* row = px + (long)b * 2 * n, bu = ps + (long)b * 2 * n;
                DiagonalKernels<T>.MultiplyAdd(lr, li, row, bu, n, 0, n);
            }
        }
        scratch.AsSpan(0, batch * 2 * n).CopyTo(x);
    }

    /// <summary>
    /// Rebuilds λ, W_inᵀ and W_outᵀ if any parameter changed since they were last built, and, for a
    /// streaming step, their panel copies.
    /// </summary>
    private void EnsureDerived(bool forStep = false)
    {
        // Versions only grow, so their sum changes whenever any parameter changes.
        long version = 0;
        foreach (var p in _all) version += p.Version;
        if (Volatile.Read(ref _derivedVersion) == version && (!forStep || Volatile.Read(ref _packedVersion) == version)) return;
        lock (_derivedLock)
        {
            if (_derivedVersion != version) BuildDerived(version);
            if (forStep && _packedVersion != version)
            {
                int h = Hidden, n = StateSize;
                _stepInput ??= new PanelMatrix<T>(h, 2 * n);
                _stepOutput ??= new PanelMatrix<T>(2 * n, h);
                _stepInput.Pack(_inputWeightsT, transposed: false);
                _stepOutput.Pack(_outputWeightsT, transposed: false);
                if (Config.MatrixD)
                {
                    _stepSkip ??= new PanelMatrix<T>(h, h);
                    _stepSkip.Pack(D.Value, transposed: true); // y = u Dᵀ
                }
                Volatile.Write(ref _packedVersion, version);
            }
        }
    }

    /// <summary>λ, W_inᵀ (H × 2N) and W_outᵀ (2N × H) from the parameters; called under the lock.</summary>
    private void BuildDerived(long version)
    {
        int h = Hidden, n = StateSize;
        ComputeLambda(_lambdaRe, _lambdaIm);
        // W_inᵀ (H × 2N): column j < N is γ_j B_re[j, :], column N + j is γ_j B_im[j, :].
        for (int j = 0; j < n; j++)
        {
            T gamma = T.CreateChecked(Math.Exp(double.CreateChecked(GammaLog.Value[j])));
            for (int i = 0; i < h; i++)
            {
                _inputWeightsT[i * 2 * n + j] = gamma * BRe.Value[j * h + i];
                _inputWeightsT[i * 2 * n + n + j] = gamma * BIm.Value[j * h + i];
            }
        }
        // W_outᵀ (2N × H): row j < N is C_re[:, j], row N + j is −C_im[:, j].
        for (int j = 0; j < n; j++)
        {
            for (int i = 0; i < h; i++)
            {
                _outputWeightsT[j * h + i] = CRe.Value[i * n + j];
                _outputWeightsT[(n + j) * h + i] = -CIm.Value[i * n + j];
            }
        }
        PackFused();
        Volatile.Write(ref _derivedVersion, version);
    }

    private static void FillNormal(SeededRandom random, T[] values, double std)
    {
        for (int i = 0; i < values.Length; i++) values[i] = T.CreateChecked(std * random.NextNormal());
    }
}
