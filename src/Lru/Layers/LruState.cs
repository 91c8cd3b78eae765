using System.Numerics;
using Lru.Modules;

namespace Lru.Layers;

/// <summary>
/// The recurrent state of an <see cref="LruLayer{T}"/> for a batch of streams: <c>x</c> of shape
/// <c>(batch, 2N)</c>, each row <c>[Re x_0 … Re x_{N-1} | Im x_0 … Im x_{N-1}]</c>. Created by
/// <see cref="LruLayer{T}.CreateState"/> and advanced by <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>.
/// </summary>
/// <remarks>A state is owned by one stream of calls; stepping one state from two threads at once is refused.</remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class LruState<T> : StreamState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal LruState(int batch, int state) : base(batch)
    {
        StateSize = state;
        Values = new T[batch * 2 * state];
        Scratch = new T[batch * 2 * state];
    }

    /// <summary>N, the number of complex channels.</summary>
    public int StateSize { get; }

    /// <summary>The state <c>x</c>, (batch, 2N), read and written by every step.</summary>
    public T[] Values { get; }

    /// <summary>Work space of one step, (batch, 2N).</summary>
    internal T[] Scratch { get; }

    /// <summary>Zeroes <c>x</c>.</summary>
    protected override void ResetCore() => Array.Clear(Values);
}
