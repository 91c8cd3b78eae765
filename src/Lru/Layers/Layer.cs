using System.Numerics;

namespace Lru.Layers;

/// <summary>
/// A differentiable layer over sequences of feature vectors: input (batch, length, InputFeatures),
/// output (batch, length, OutputFeatures), both dense row-major.
/// </summary>
/// <remarks>
/// <para>Training follows one pattern everywhere (as in llm.c): <see cref="Forward"/> in training mode
/// (<see cref="IsTraining"/>) keeps what <see cref="Backward"/> needs in buffers the layer owns and
/// reuses (grown on first use, never per step); <see cref="Backward"/> then writes the gradient with
/// respect to the input and <em>adds</em> the gradients of its parameters to
/// <see cref="Parameter{T}.Gradient"/>, so gradients from several uses accumulate. Call
/// <see cref="Backward"/> once per training <see cref="Forward"/>, with the same batch and length.</para>
/// <para>In evaluation mode <see cref="Forward"/> keeps nothing and layers such as dropout and batch
/// normalisation use their evaluation behaviour.</para>
/// <para>Threads: evaluation-mode <see cref="Forward"/> calls (and streaming steps, each with its own state) on one
/// instance may run on several threads at once; each call takes its work space from a pool the instance owns, so
/// once the largest shape and the largest number of concurrent calls have been seen, calls allocate nothing and
/// results are bit-identical to serial calls. Training is single-threaded: a training-mode <see cref="Forward"/> or a
/// <see cref="Backward"/> that overlaps any other call on the same instance throws
/// <see cref="InvalidOperationException"/> (detected with one interlocked operation per call). Changing
/// <see cref="IsTraining"/> or the parameters while calls run is not allowed and not detected.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public abstract class Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features per time step of the input.</summary>
    public abstract int InputFeatures { get; }

    /// <summary>Features per time step of the output.</summary>
    public abstract int OutputFeatures { get; }

    /// <summary>Creates the layer.</summary>
    protected Layer() => Calls = new CallGuard(GetType().Name);

    /// <summary>True (the default) in training mode; false for evaluation.</summary>
    public bool IsTraining { get; set; } = true;

    /// <summary>Refuses training-mode calls that overlap other calls on this instance (see the remarks).</summary>
    private protected CallGuard Calls { get; }

    /// <summary>Sets a sub-layer's mode, writing only when it changes (concurrent evaluation calls then only read it).</summary>
    private protected static void SetMode(Layer<T>? layer, bool training)
    {
        if (layer is not null && layer.IsTraining != training) layer.IsTraining = training;
    }

    /// <summary>The layer's own parameters with their local names (for example <c>weight</c>), in a fixed order.</summary>
    public virtual IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters() => [];

    /// <summary>Runs the layer; in training mode also keeps what <see cref="Backward"/> needs.</summary>
    /// <param name="input">(batch, length, InputFeatures).</param>
    /// <param name="output">(batch, length, OutputFeatures); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this instance, or an evaluation-mode call overlaps a training-mode one.</exception>
    public abstract void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length);

    /// <summary>
    /// Back-propagates through the last training <see cref="Forward"/>: writes ∂ℒ/∂input and adds
    /// the parameter gradients to <see cref="Parameter{T}.Gradient"/>.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, (batch, length, OutputFeatures).</param>
    /// <param name="gradInput">Receives ∂ℒ/∂input, (batch, length, InputFeatures); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last forward pass.</param>
    /// <param name="length">The sequence length of the last forward pass.</param>
    /// <exception cref="InvalidOperationException">No training forward pass of this shape precedes the call, or the call overlaps another call on this instance.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    public abstract void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length);
}
