using System.Numerics;

namespace Lru.Modules;

/// <summary>
/// What a module keeps between the time steps of <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>
/// for <see cref="Batch"/> streams: recurrent state, running sums, and the work space of the step, so stepping
/// allocates nothing. Made by <see cref="Module{T}.CreateState"/>; a module that needs more derives from this class.
/// </summary>
/// <remarks>
/// A state belongs to one stream of calls at a time: many threads may step one module, each with its own state, but
/// a <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/> or <see cref="Reset"/> on a state that
/// another thread is stepping throws <see cref="InvalidOperationException"/> (one interlocked operation per call).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class StreamState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly StreamState<T>[] _children;
    private int _inUse;

    /// <summary>Creates the state of <paramref name="batch"/> streams, with the states of a module's children.</summary>
    /// <param name="batch">The number of streams B, at least 1.</param>
    /// <param name="children">The children's states, in the order the module steps them (empty for a leaf).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is less than 1.</exception>
    /// <exception cref="ArgumentException">A child state is null or has another batch.</exception>
    public StreamState(int batch, params StreamState<T>[] children)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentNullException.ThrowIfNull(children);
        for (int i = 0; i < children.Length; i++)
        {
            if (children[i] is null || children[i].Batch != batch)
                throw new ArgumentException($"children[{i}] is {(children[i] is null ? "null" : $"a state of {children[i].Batch} streams")}; every child state needs batch {batch}.", nameof(children));
        }
        Batch = batch;
        _children = (StreamState<T>[])children.Clone();
    }

    /// <summary>The number of streams B.</summary>
    public int Batch { get; }

    /// <summary>The time steps read so far (counted by the module that made the state, not by its children).</summary>
    public long Steps { get; internal set; }

    /// <summary>The states of the module's children, in order.</summary>
    public IReadOnlyList<StreamState<T>> Children => _children;

    /// <summary>The module that made this state; <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/> refuses a state of another.</summary>
    internal object? Owner { get; set; }

    /// <summary>Sets the state to that of new sequences (zero state, no steps read), children included.</summary>
    /// <exception cref="InvalidOperationException">Another thread is stepping this state.</exception>
    public void Reset()
    {
        using var use = Use(nameof(Reset));
        ResetTree();
    }

    /// <summary>Resets what a derived state keeps (its children are reset by <see cref="Reset"/>).</summary>
    protected virtual void ResetCore()
    {
    }

    private void ResetTree()
    {
        ResetCore();
        Steps = 0;
        foreach (var child in _children) child.ResetTree();
    }

    /// <summary>The child state at <paramref name="index"/>, cast to the type its module made.</summary>
    internal TState Child<TState>(int index) where TState : StreamState<T> => (TState)_children[index];

    /// <summary>Takes the state for one call; disposing the result gives it back.</summary>
    internal InUse Use(string call)
    {
        if (Interlocked.Exchange(ref _inUse, 1) != 0)
            throw new InvalidOperationException(
                $"{GetType().Name.Split('`')[0]}.{call} was refused: another thread is stepping this state. Each stream of steps needs its own state (Module.CreateState).");
        return new InUse(this);
    }

    /// <summary>Gives the state back when disposed.</summary>
    internal readonly struct InUse(StreamState<T> state) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref state._inUse, 0);
    }
}
