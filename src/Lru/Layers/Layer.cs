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
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public abstract class Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features per time step of the input.</summary>
    public abstract int InputFeatures { get; }

    /// <summary>Features per time step of the output.</summary>
    public abstract int OutputFeatures { get; }

    /// <summary>True (the default) in training mode; false for evaluation.</summary>
    public bool IsTraining { get; set; } = true;

    /// <summary>The layer's own parameters with their local names (for example <c>weight</c>), in a fixed order.</summary>
    public virtual IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters() => [];

    /// <summary>Runs the layer; in training mode also keeps what <see cref="Backward"/> needs.</summary>
    /// <param name="input">(batch, length, InputFeatures).</param>
    /// <param name="output">(batch, length, OutputFeatures); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public abstract void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length);

    /// <summary>
    /// Back-propagates through the last training <see cref="Forward"/>: writes ∂ℒ/∂input and adds
    /// the parameter gradients to <see cref="Parameter{T}.Gradient"/>.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, (batch, length, OutputFeatures).</param>
    /// <param name="gradInput">Receives ∂ℒ/∂input, (batch, length, InputFeatures); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last forward pass.</param>
    /// <param name="length">The sequence length of the last forward pass.</param>
    /// <exception cref="InvalidOperationException">No training forward pass of this shape precedes the call.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public abstract void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length);
}
