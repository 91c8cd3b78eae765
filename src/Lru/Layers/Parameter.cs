using System.Numerics;

namespace Lru.Layers;

/// <summary>Which optimiser settings a parameter gets (LRU-MATH §2, training recipe).</summary>
public enum ParameterGroup
{
    /// <summary>Ordinary weights: base learning rate with weight decay.</summary>
    Default = 0,

    /// <summary>The recurrent SSM parameters <c>nu_log, theta_log, gamma_log, B_re, B_im</c>: reduced learning rate, no weight decay.</summary>
    Recurrent = 1,
}

/// <summary>A named, shaped, trainable array of values with a gradient of the same shape.</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _shape;
    private T[]? _gradient;

    /// <summary>Creates a zero-filled parameter.</summary>
    /// <param name="name">The parameter's name as in LRU-MATH (for example <c>nu_log</c>).</param>
    /// <param name="group">Its optimiser group.</param>
    /// <param name="shape">Its shape; every length at least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or a length is not positive.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="group"/> is not a defined <see cref="ParameterGroup"/>.</exception>
    public Parameter(string name, ParameterGroup group, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (group is not (ParameterGroup.Default or ParameterGroup.Recurrent))
            throw new ArgumentOutOfRangeException(nameof(group), group, $"group is {group}; it must be Default or Recurrent.");
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 1) throw new ArgumentException($"Parameter '{name}' has shape ({string.Join(", ", shape)}); every length must be at least 1.", nameof(shape));
            count *= d;
        }
        Name = name;
        Group = group;
        _shape = (int[])shape.Clone();
        Value = new T[checked((int)count)];
    }

    /// <summary>The name, as in LRU-MATH §1 for the LRU's parameters.</summary>
    public string Name { get; }

    /// <summary>The optimiser group.</summary>
    public ParameterGroup Group { get; }

    /// <summary>The shape, row-major.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The values, row-major. After writing to them directly, call <see cref="MarkModified"/>.</summary>
    public T[] Value { get; }

    /// <summary>The gradient, same shape as <see cref="Value"/>, allocated on first use.</summary>
    public T[] Gradient => _gradient ??= new T[Value.Length];

    /// <summary>Incremented by <see cref="MarkModified"/>; layers use it to refresh weights derived from this parameter.</summary>
    public int Version { get; private set; }

    /// <summary>Signals that <see cref="Value"/> was changed, so derived caches must be rebuilt.</summary>
    public void MarkModified() => Version++;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({string.Join("×", _shape)})";
}
