namespace Lru.Training;

/// <summary>What the finiteness guard of <see cref="Trainer{T}"/> found to be NaN or infinite.</summary>
public enum NonFiniteKind
{
    /// <summary>The batch's loss, found after the forward pass; nothing was changed.</summary>
    Loss = 0,

    /// <summary>A parameter's gradient, found after the backward pass and before the optimiser step; the weights are unchanged.</summary>
    Gradient = 1,

    /// <summary>A parameter's value, found after the optimiser step (finite gradients with a learning rate too large); the weights in memory are no longer usable.</summary>
    Value = 2,
}

/// <summary>
/// Thrown by <see cref="Trainer{T}"/> when the loss, a gradient or a parameter's value is NaN or infinite. The
/// message names the first offending parameter in the model's parameter order (hierarchical names such as
/// <c>blocks.1.lru.B_re</c>, as in <see cref="Modules.Module{T}.NamedParameters"/>), its first bad element,
/// and where in the run it happened, for example
/// <c>gradient of blocks.1.lru.B_re is NaN (element 17; 1 of 26 parameters has a non-finite gradient) at epoch 2, step 37 (optimiser step 293)</c>.
/// </summary>
/// <remarks>
/// The trainer saves nothing itself, and the exception leaves <see cref="Trainer{T}.Fit"/> before any later
/// callback runs, so a checkpoint written by an earlier epoch callback stays as it was.
/// </remarks>
public sealed class NonFiniteException : ArithmeticException
{
    /// <summary>Creates the exception and its message.</summary>
    /// <param name="kind">What was not finite.</param>
    /// <param name="parameterName">The parameter's hierarchical name, or null for <see cref="NonFiniteKind.Loss"/>.</param>
    /// <param name="element">The index of the first non-finite element in the parameter (row-major), or -1 for the loss.</param>
    /// <param name="value">The first non-finite value: NaN, +∞ or −∞.</param>
    /// <param name="nonFiniteParameters">How many parameters have a non-finite gradient (or value); 0 for the loss.</param>
    /// <param name="parameterCount">How many parameters the model has.</param>
    /// <param name="epoch">The epoch, from 1, or 0 when the step ran outside <see cref="Trainer{T}.Fit"/>.</param>
    /// <param name="step">The step within the epoch, from 1, or 0 when the step ran outside <see cref="Trainer{T}.Fit"/>.</param>
    /// <param name="optimizerStep">The number of the optimiser step being taken, from 1.</param>
    /// <exception cref="ArgumentException">The arguments contradict each other: a parameter name for the loss or none for a gradient or value, or a finite <paramref name="value"/>.</exception>
    public NonFiniteException(NonFiniteKind kind, string? parameterName, int element, double value, int nonFiniteParameters, int parameterCount, int epoch, int step, long optimizerStep)
        : base(Describe(kind, parameterName, element, value, nonFiniteParameters, parameterCount, epoch, step, optimizerStep))
    {
        (Kind, ParameterName, Element, Value, NonFiniteParameters, Epoch, Step, OptimizerStep) =
            (kind, parameterName, element, value, nonFiniteParameters, epoch, step, optimizerStep);
    }

    /// <summary>What was not finite.</summary>
    public NonFiniteKind Kind { get; }

    /// <summary>The hierarchical name of the first parameter (in the model's parameter order) with a non-finite gradient or value; null for the loss.</summary>
    public string? ParameterName { get; }

    /// <summary>The row-major index of the first non-finite element of <see cref="ParameterName"/>; -1 for the loss.</summary>
    public int Element { get; }

    /// <summary>The first non-finite value found: NaN, +∞ or −∞.</summary>
    public double Value { get; }

    /// <summary>How many parameters have a non-finite gradient (or value); 0 for the loss.</summary>
    public int NonFiniteParameters { get; }

    /// <summary>The epoch, from 1; 0 when the step ran outside <see cref="Trainer{T}.Fit"/>.</summary>
    public int Epoch { get; }

    /// <summary>The step within the epoch, from 1; 0 when the step ran outside <see cref="Trainer{T}.Fit"/>.</summary>
    public int Step { get; }

    /// <summary>The number of the optimiser step during which the value was found, from 1.</summary>
    public long OptimizerStep { get; }

    private static string Describe(NonFiniteKind kind, string? parameterName, int element, double value, int nonFiniteParameters, int parameterCount, int epoch, int step, long optimizerStep)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown kind.");
        if (double.IsFinite(value)) throw new ArgumentException($"value must be NaN or infinite but is {value}.", nameof(value));
        if ((kind == NonFiniteKind.Loss) != (parameterName is null))
            throw new ArgumentException($"parameterName must be null for the loss and given otherwise; kind is {kind}, parameterName is {(parameterName is null ? "null" : $"'{parameterName}'")}.", nameof(parameterName));
        string where = epoch > 0 ? $"at epoch {epoch}, step {step} (optimiser step {optimizerStep})" : $"at optimiser step {optimizerStep}";
        string text = Text(value);
        return kind switch
        {
            NonFiniteKind.Loss => $"training loss is {text} {where}; the step was not taken.",
            NonFiniteKind.Gradient => $"gradient of {parameterName} is {text} (element {element}; {Count(nonFiniteParameters, parameterCount, "gradient")}) {where}; the step was not taken, the weights are unchanged.",
            _ => $"value of {parameterName} became {text} (element {element}; {Count(nonFiniteParameters, parameterCount, "value")}) after optimiser step {optimizerStep}{(epoch > 0 ? $" at epoch {epoch}, step {step}" : "")}; the gradients were finite, so the learning rate is too large, and the weights in memory are no longer usable.",
        };
    }

    private static string Count(int bad, int total, string what) =>
        $"{bad} of {total} parameters {(bad == 1 ? "has" : "have")} a non-finite {what}";

    private static string Text(double value) => double.IsNaN(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity";
}
