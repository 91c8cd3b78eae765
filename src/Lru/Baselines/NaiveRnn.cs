using System.Numerics;
using Lru.Tensors;

namespace Lru.Baselines;

/// <summary>
/// The baseline the LRU is measured against: a dense tanh RNN
/// <c>h_t = tanh(W h_{t-1} + U u_t)</c>, <c>y_t = V h_t</c> with hidden size N, computed step by
/// step with plain scalar loops, exactly as a first implementation would; backward is plain
/// back-propagation through time. Not for production use.
/// </summary>
internal sealed class NaiveRnn<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _w, _u, _v;
    private T[] _states = [], _input = [];
    private int _batch = -1, _length = -1;

    public NaiveRnn(int hidden, int state, long seed)
    {
        Hidden = hidden;
        State = state;
        var random = new SeededRandom(seed);
        _w = Normal(random, state * state, 1.0 / Math.Sqrt(state));
        _u = Normal(random, state * hidden, 1.0 / Math.Sqrt(hidden));
        _v = Normal(random, hidden * state, 1.0 / Math.Sqrt(state));
        GradW = new T[_w.Length];
        GradU = new T[_u.Length];
        GradV = new T[_v.Length];
    }

    public int Hidden { get; }

    public int State { get; }

    /// <summary>W (N × N), U (N × H), V (H × N), row-major.</summary>
    public (T[] W, T[] U, T[] V) Weights => (_w, _u, _v);

    /// <summary>Gradients of W, U, V, accumulated by <see cref="Backward"/>.</summary>
    public T[] GradW { get; }

    /// <summary>∂ℒ/∂U.</summary>
    public T[] GradU { get; }

    /// <summary>∂ℒ/∂V.</summary>
    public T[] GradV { get; }

    /// <summary>y (B, L, H) from u (B, L, H), starting from h = 0; keeps every h_t for <see cref="Backward"/>.</summary>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        int h = Hidden, n = State;
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        Buffers.Grow(ref _states, batch * length * n);
        input.CopyTo(Buffers.Grow(ref _input, input.Length));
        (_batch, _length) = (batch, length);
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < length; t++)
            {
                int row = (b * length + t) * h, state = (b * length + t) * n, previous = state - n;
                for (int i = 0; i < n; i++)
                {
                    T s = T.Zero;
                    if (t > 0) for (int j = 0; j < n; j++) s += _w[i * n + j] * _states[previous + j];
                    for (int j = 0; j < h; j++) s += _u[i * h + j] * input[row + j];
                    _states[state + i] = T.Tanh(s);
                }
                for (int i = 0; i < h; i++)
                {
                    T s = T.Zero;
                    for (int j = 0; j < n; j++) s += _v[i * n + j] * _states[state + j];
                    output[row + i] = s;
                }
            }
        }
    }

    /// <summary>Back-propagation through time for the last <see cref="Forward"/>: adds to the weight gradients and writes ∂ℒ/∂u.</summary>
    public void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput)
    {
        int h = Hidden, n = State, batch = _batch, length = _length;
        if (batch < 0) throw new InvalidOperationException("Backward needs a preceding Forward.");
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);
        var gradState = new T[n];
        var gradPre = new T[n];
        for (int b = 0; b < batch; b++)
        {
            Array.Clear(gradState);
            for (int t = length - 1; t >= 0; t--)
            {
                int row = (b * length + t) * h, state = (b * length + t) * n, previous = state - n;
                // y_t = V h_t
                for (int i = 0; i < h; i++)
                {
                    T g = gradOutput[row + i];
                    for (int j = 0; j < n; j++)
                    {
                        GradV[i * n + j] += g * _states[state + j];
                        gradState[j] += _v[i * n + j] * g;
                    }
                }
                // h_t = tanh(a_t): ∂a = ∂h ⊙ (1 − h²)
                for (int j = 0; j < n; j++)
                {
                    T ht = _states[state + j];
                    gradPre[j] = gradState[j] * (T.One - ht * ht);
                }
                for (int j = 0; j < h; j++) gradInput[row + j] = T.Zero;
                Array.Clear(gradState);
                for (int i = 0; i < n; i++)
                {
                    T g = gradPre[i];
                    for (int j = 0; j < h; j++)
                    {
                        GradU[i * h + j] += g * _input[row + j];
                        gradInput[row + j] += _u[i * h + j] * g;
                    }
                    if (t == 0) continue;
                    for (int j = 0; j < n; j++)
                    {
                        GradW[i * n + j] += g * _states[previous + j];
                        gradState[j] += _w[i * n + j] * g;
                    }
                }
            }
        }
    }

    private static T[] Normal(SeededRandom random, int count, double std)
    {
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = T.CreateChecked(std * random.NextNormal());
        return values;
    }
}
