using System.Numerics;

namespace Lru.Layers;

/// <summary>
/// The recurrent state of an <see cref="LruLayer{T}"/> for a batch of streams: <c>x</c> of shape
/// <c>(batch, 2N)</c>, each row <c>[Re x_0 … Re x_{N-1} | Im x_0 … Im x_{N-1}]</c>. Created by
/// <see cref="LruLayer{T}.CreateState"/> and advanced by <see cref="LruLayer{T}.Step(ReadOnlySpan{T}, Span{T}, LruState{T})"/>.
/// </summary>
/// <remarks>A state is owned by one stream of calls; it is not safe to step one state from two threads at once.</remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class LruState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal LruState(int batch, int state)
    {
        Batch = batch;
        StateSize = state;
        Values = new T[batch * 2 * state];
        Scratch = new T[batch * 2 * state];
    }

    /// <summary>The number of streams <c>B</c>.</summary>
    public int Batch { get; }

    /// <summary>The number of complex channels <c>N</c>.</summary>
    public int StateSize { get; }

    /// <summary>The state <c>(batch, 2N)</c>, real parts then imaginary parts per row. Writable, for example to restore a saved state.</summary>
    public T[] Values { get; }

    /// <summary>Work space of the same shape, so that stepping allocates nothing.</summary>
    internal T[] Scratch { get; }

    /// <summary>Sets the state to zero (the start of a new sequence).</summary>
    public void Reset() => Array.Clear(Values);
}
