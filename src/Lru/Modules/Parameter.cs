using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Modules;

/// <summary>A named, shaped, trainable array of values with a gradient of the same shape.</summary>
/// <remarks>
/// <para>The values can be read by anyone (<see cref="Value"/>) but changed only through <see cref="Assign(ReadOnlySpan{T})"/>
/// (and by the library's initialisers, optimisers and loaders), each of which increments <see cref="Version"/>. Modules
/// that keep weights derived from a parameter (the LRU's λ and input/output matrices, packed copies for streaming)
/// rebuild them when the version changed, so a changed weight is never silently stale.</para>
/// <para>The gradient is for the backward passes to add to (<c>+=</c>) and for optimisers to read;
/// <see cref="ZeroGradient"/> clears it (or <see cref="Module{T}.ZeroGradients"/> for a whole tree).</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _shape;
    private readonly T[] _values;
    private T[]? _gradient;
    private long _version;

    /// <summary>Creates a zero-filled parameter.</summary>
    /// <param name="name">Its local name, for example <c>weight</c> or <c>nu_log</c>: not empty, without '.'.</param>
    /// <param name="shape">Its shape; every length at least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or contains '.', or a length is not positive.</exception>
    public Parameter(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name.Contains('.'))
            throw new ArgumentException($"Parameter name '{name}' contains '.', which separates the levels of hierarchical names.", nameof(name));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 1) throw new ArgumentException($"Parameter '{name}' has shape ({string.Join(", ", shape)}); every length must be at least 1.", nameof(shape));
            count *= d;
        }
        Name = name;
        _shape = (int[])shape.Clone();
        _values = new T[checked((int)count)];
    }

    /// <summary>The local name (as in LRU-MATH §1 for the LRU's parameters).</summary>
    public string Name { get; }

    /// <summary>The shape, row-major.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of elements.</summary>
    public int Length => _values.Length;

    /// <summary>The values, row-major, read-only; change them with <see cref="Assign(ReadOnlySpan{T})"/>.</summary>
    public ReadOnlySpan<T> Value => _values;

    /// <summary>The gradient, same shape as the values, allocated on first use; backward passes add to it.</summary>
    public Span<T> Gradient => GradientArray;

    /// <summary>Incremented whenever the values change; modules use it to refresh weights derived from this parameter.</summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>The values as a read-only tensor span of <see cref="Shape"/>, without copying.</summary>
    /// <returns>A view of the live values.</returns>
    public ReadOnlyTensorSpan<T> AsReadOnlyTensorSpan() => new(_values, Lengths());

    /// <summary>A copy of the values as a tensor of <see cref="Shape"/>.</summary>
    /// <returns>A new tensor.</returns>
    public Tensor<T> ToTensor() => Tensor.Create((T[])_values.Clone(), Lengths());

    /// <summary>Replaces the values by a copy of <paramref name="values"/> and increments <see cref="Version"/>.</summary>
    /// <param name="values">Row-major values, exactly <see cref="Length"/> of them.</param>
    /// <exception cref="ArgumentException"><paramref name="values"/> has another length (the message gives both).</exception>
    public void Assign(ReadOnlySpan<T> values)
    {
        if (values.Length != _values.Length)
            throw new ArgumentException($"values has {values.Length} elements but parameter '{Name}' of shape ({string.Join(", ", _shape)}) has {_values.Length}.", nameof(values));
        values.CopyTo(_values);
        MarkModified();
    }

    /// <summary>Replaces the values by a copy of a tensor of exactly <see cref="Shape"/> and increments <see cref="Version"/>.</summary>
    /// <param name="values">A dense tensor span of the parameter's shape.</param>
    /// <exception cref="ArgumentException"><paramref name="values"/> has another shape or is not dense.</exception>
    public void Assign(in ReadOnlyTensorSpan<T> values)
    {
        ReadOnlySpan<nint> lengths = values.Lengths;
        bool same = lengths.Length == _shape.Length;
        for (int d = 0; same && d < _shape.Length; d++) same = lengths[d] == _shape[d];
        if (!same)
            throw new ArgumentException($"values has shape ({string.Join(", ", lengths.ToArray())}) but parameter '{Name}' has shape ({string.Join(", ", _shape)}).", nameof(values));
        Assign(values.AsFlatSpan(nameof(values)));
    }

    /// <summary>Sets the gradient to zero (allocates nothing once the gradient exists).</summary>
    public void ZeroGradient() => GradientArray.AsSpan().Clear();

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({string.Join("×", _shape)})";

    /// <summary>The live values, for the library's initialisers, optimisers and loaders (who call <see cref="MarkModified"/>).</summary>
    internal T[] Values => _values;

    /// <summary>The gradient array (allocated on first use).</summary>
    internal T[] GradientArray => _gradient ??= new T[_values.Length];

    /// <summary>Signals that <see cref="Values"/> was changed in place, so derived caches must be rebuilt.</summary>
    internal void MarkModified() => Interlocked.Increment(ref _version);

    private nint[] Lengths()
    {
        var lengths = new nint[_shape.Length];
        for (int d = 0; d < lengths.Length; d++) lengths[d] = _shape[d];
        return lengths;
    }
}
