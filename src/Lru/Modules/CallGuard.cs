namespace Lru.Modules;

/// <summary>
/// Lets evaluation-mode calls on one instance run on several threads at once while a training-mode call runs
/// alone, and refuses an overlapping call with an <see cref="InvalidOperationException"/> instead of letting it
/// corrupt the training caches. The state is one integer: the number of evaluation calls in flight, or −1 while
/// a training call runs; entering and leaving are one interlocked operation each and allocate nothing.
/// </summary>
/// <remarks>
/// Use it as <c>using var scope = guard.Enter(training, "Forward");</c>. It detects overlapping calls only; a call
/// made between a training <c>Forward</c> and its <c>Backward</c> on another thread is not an overlap and is not
/// detected.
/// </remarks>
internal sealed class CallGuard
{
    private readonly string _owner;
    private int _state;

    /// <summary>Creates a guard for one instance.</summary>
    /// <param name="owner">The type's name as users know it (for example <c>SequenceModel</c>), used in messages.</param>
    public CallGuard(string owner)
    {
        int tick = owner.IndexOf('`');
        _owner = tick < 0 ? owner : owner[..tick];
    }

    /// <summary>The number of evaluation calls in flight, or −1 while a training call runs (for tests).</summary>
    internal int State => Volatile.Read(ref _state);

    /// <summary>Enters a call: an exclusive one when <paramref name="training"/>, a shared one otherwise.</summary>
    /// <param name="training">Whether the call writes state that other calls read (a training-mode call).</param>
    /// <param name="call">The method's name, for the message.</param>
    /// <returns>A scope whose <see cref="Scope.Dispose"/> leaves the call.</returns>
    /// <exception cref="InvalidOperationException">The call would overlap a call it must not overlap.</exception>
    public Scope Enter(bool training, string call)
    {
        if (training)
        {
            int seen = Interlocked.CompareExchange(ref _state, -1, 0);
            if (seen != 0) ThrowExclusive(call, seen);
            return new Scope(this, exclusive: true);
        }
        while (true)
        {
            int seen = Volatile.Read(ref _state);
            if (seen < 0) ThrowShared(call);
            if (Interlocked.CompareExchange(ref _state, seen + 1, seen) == seen) return new Scope(this, exclusive: false);
        }
    }

    private void ThrowExclusive(string call, int seen) =>
        throw new InvalidOperationException(seen < 0
            ? $"{_owner}.{call} in training mode was refused: another training-mode call on the same {_owner} is running on another thread. {Rule}"
            : $"{_owner}.{call} in training mode was refused: {seen} evaluation-mode call(s) on the same {_owner} are running on other threads. {Rule}");

    private void ThrowShared(string call) =>
        throw new InvalidOperationException(
            $"{_owner}.{call} was refused: a training-mode call on the same {_owner} is running on another thread. {Rule}");

    private const string Rule =
        "Training (IsTraining = true: Forward, Backward, optimiser steps) is single-threaded and must not overlap any other call on the instance; " +
        "only evaluation-mode Forward and Step may run concurrently.";

    /// <summary>Leaves the call entered by <see cref="Enter"/>.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly CallGuard _guard;
        private readonly bool _exclusive;

        internal Scope(CallGuard guard, bool exclusive)
        {
            _guard = guard;
            _exclusive = exclusive;
        }

        /// <summary>Leaves the call.</summary>
        public void Dispose()
        {
            if (_exclusive) Volatile.Write(ref _guard._state, 0);
            else Interlocked.Decrement(ref _guard._state);
        }
    }
}
