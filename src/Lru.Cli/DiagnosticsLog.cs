using System.Text.Json;
using System.Text.Json.Serialization;
using Lru.Data;
using Lru.Modules;
using Lru.Training;

namespace Lru.Cli;

/// <summary>
/// <c>lru train --diagnose FILE</c>: JSON lines of <see cref="Diagnostics"/> over a run. <c>"kind": "gradients"</c>
/// lines hold the unclipped gradient norm of every trained parameter and of each block's parameters together,
/// about 25 times an epoch; <c>"kind": "lambda"</c> lines the quantiles of |λ| per LRU layer, and <c>"kind": "memory"</c>
/// lines the effective memory on the first evaluation sequences, at the start and after every epoch.
/// </summary>
internal sealed class DiagnosticsLog
{
    /// <summary>Distances from the last step at which the effective memory is measured (those ≥ L are left out).</summary>
    private static readonly int[] Distances = [0, 1, 3, 10, 30, 100, 300, 500, 700, 900, 2000, 5000];

    private const int MemorySequences = 64;
    private const double Epsilon = 1e-2;

    private readonly string _path;
    private readonly Module<float> _model;
    private readonly SequenceDataset<float>? _evaluation;
    private readonly int _every;

    public DiagnosticsLog(string path, Module<float> model, Trainer<float> trainer, SequenceDataset<float>? evaluation, int stepsPerEpoch)
    {
        (_path, _model, _every) = (path, model, Math.Max(1, stepsPerEpoch / 25));
        // The effective memory needs pooled outputs of equal-length real-valued sequences.
        bool pooled = evaluation is { PerStep: false, Inputs: not null, Lengths: null };
        _evaluation = pooled ? evaluation : null;
        trainer.GradientsComputed = Gradients;
    }

    /// <summary>Writes the |λ| quantiles and the effective memory after optimiser step <paramref name="step"/>.</summary>
    public void Snapshot(long step)
    {
        var layers = new Dictionary<string, object>();
        foreach (var (name, moduli) in Diagnostics.LambdaModuli(_model))
        {
            double[] sorted = [.. moduli.Order()];
            double Q(double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];
            layers[name] = new Dictionary<string, object>
            {
                ["min"] = Q(0), ["q10"] = Q(0.1), ["median"] = Q(0.5), ["q90"] = Q(0.9), ["max"] = Q(1),
                // The steps after which exp(−1) of a unit input is left, for the median and the longest channel.
                ["memory_median"] = -1 / Math.Log(Q(0.5)), ["memory_max"] = -1 / Math.Log(Q(1)),
            };
        }
        Write(new Dictionary<string, object?> { ["kind"] = "lambda", ["step"] = step, ["layers"] = layers });
        if (_evaluation is null) return;
        int[] distances = [.. Distances.Where(d => d < _evaluation.Length)];
        double[] sensitivity = Diagnostics.InputSensitivity(_model, _evaluation, Math.Min(MemorySequences, _evaluation.Count), distances, Epsilon);
        Write(new Dictionary<string, object?> { ["kind"] = "memory", ["step"] = step, ["distances"] = distances, ["sensitivity"] = sensitivity });
    }

    private void Gradients(long step, IReadOnlyList<(string Name, Parameter<float> Parameter)> parameters)
    {
        if (step % _every != 0 && step != 1) return;
        var norms = new Dictionary<string, double>();
        var groups = new Dictionary<string, double>();
        foreach (var (name, parameter) in parameters)
        {
            double norm = Diagnostics.GradientNorm(parameter);
            norms[name] = norm;
            // Group by the first two name parts ("blocks.0"), or the first ("encoder").
            string[] parts = name.Split('.');
            string group = parts.Length > 2 && int.TryParse(parts[1], out _) ? $"{parts[0]}.{parts[1]}" : parts[0];
            groups[group] = groups.GetValueOrDefault(group) + norm * norm;
        }
        foreach (string key in groups.Keys.ToArray()) groups[key] = Math.Sqrt(groups[key]);
        Write(new Dictionary<string, object?> { ["kind"] = "gradients", ["step"] = step, ["groups"] = groups, ["parameters"] = norms });
    }

    // A run with --no-check-finite can produce NaN or ∞ norms, and |λ| = 1 an infinite memory: written as "NaN"/"Infinity".
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private void Write(Dictionary<string, object?> line) =>
        File.AppendAllText(_path, JsonSerializer.Serialize(line, Json) + Environment.NewLine);
}
