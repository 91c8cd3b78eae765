namespace Lru.Tensors;

/// <summary>Owned work buffers that grow to the largest size asked for and are then reused, so steady-state steps allocate nothing.</summary>
internal static class Buffers
{
    /// <summary>Returns the first <paramref name="length"/> elements of <paramref name="buffer"/>, replacing it by a larger array first if it is too short.</summary>
    public static Span<T> Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new T[length];
        return buffer.AsSpan(0, length);
    }
}
