namespace Lru.Tensors;

/// <summary>
/// Work arrays for calls that may run on several threads at once (evaluation-mode forward passes): a call rents
/// what it needs and returns it, so concurrent calls never share a buffer.
/// </summary>
/// <remarks>
/// Each layer or model owns one pool. Returned arrays are kept, never more than were out at the same time; a
/// request takes the shortest kept array that is long enough, and when none is, the shortest kept array is
/// dropped and a new one of the requested length is allocated. So once the largest shape and the largest number of
/// concurrent calls have been seen, renting allocates nothing, and the memory kept is bounded by that peak. Arrays
/// come back with stale contents: callers write every element they read. Rent and return take a lock for a few
/// instructions.
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
internal sealed class WorkspacePool<T>
{
    private readonly Lock _lock = new();
    private T[][] _free = new T[4][];
    private int _count;

    /// <summary>An array of at least <paramref name="length"/> elements, owned by the caller until <see cref="Return"/>.</summary>
    /// <param name="length">The number of elements needed, at least 0.</param>
    public T[] Rent(int length)
    {
        lock (_lock)
        {
            int best = -1, shortest = -1;
            for (int i = 0; i < _count; i++)
            {
                int available = _free[i].Length;
                if (available >= length && (best < 0 || available < _free[best].Length)) best = i;
                if (shortest < 0 || available < _free[shortest].Length) shortest = i;
            }
            int take = best >= 0 ? best : shortest;
            if (take >= 0)
            {
                T[] array = _free[take];
                _free[take] = _free[--_count];
                _free[_count] = null!;
                if (best >= 0) return array;
            }
        }
        return new T[length];
    }

    /// <summary>Gives an array from <see cref="Rent"/> back for later calls.</summary>
    /// <param name="array">The array; the caller must not use it afterwards.</param>
    public void Return(T[] array)
    {
        lock (_lock)
        {
            if (_count == _free.Length) Array.Resize(ref _free, 2 * _count);
            _free[_count++] = array;
        }
    }

    /// <summary>The number of arrays kept (for tests).</summary>
    internal int Kept
    {
        get
        {
            lock (_lock) return _count;
        }
    }
}
