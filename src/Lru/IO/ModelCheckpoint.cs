using System.Text.Json;
using System.Text.Json.Serialization;
using Lru.Models;
using Lru.Training;

namespace Lru.IO;

/// <summary>A checkpoint read back: the model, the optimiser state saved with it (possibly empty) and the metadata.</summary>
/// <param name="Model">The model, with its configuration, parameters and buffers restored bit-exactly.</param>
/// <param name="OptimizerState">The optimiser state entries (names without the <c>optimizer.</c> prefix), for <see cref="Optimizer{T}.LoadState"/>.</param>
/// <param name="Metadata">Every metadata entry of the file.</param>
public sealed record CheckpointData(
    SequenceModel<float> Model,
    IReadOnlyList<(string Name, float[] Values)> OptimizerState,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// A model checkpoint is one safetensors file: every parameter under its stable hierarchical name
/// (<c>blocks.0.lru.nu_log</c>, …) as F32, BatchNorm running statistics under theirs, optionally the
/// optimiser state under <c>optimizer.*</c>, and the model configuration as JSON in the metadata
/// (<see cref="ConfigKey"/>). Writing is atomic (a temporary file, then a rename), so a crash never leaves
/// a corrupt checkpoint and the previous one survives; loading validates the whole file and every shape.
/// </summary>
public static class ModelCheckpoint
{
    /// <summary>The metadata key of the format marker.</summary>
    public const string FormatKey = "lru.format";

    /// <summary>The format marker's value.</summary>
    public const string Format = "lru.net-checkpoint-1";

    /// <summary>The metadata key of the model configuration (JSON).</summary>
    public const string ConfigKey = "lru.model_config";

    /// <summary>The prefix of optimiser state entries.</summary>
    public const string OptimizerPrefix = "optimizer.";

    private static readonly JsonSerializerOptions s_json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Writes <paramref name="model"/> (and the optimiser state) to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">An optimiser whose state to save too, or null.</param>
    /// <param name="metadata">Extra metadata entries (keys must not start with <c>lru.format</c> or <c>lru.model_config</c>).</param>
    /// <exception cref="ArgumentException">A metadata key collides with the checkpoint's own.</exception>
    /// <exception cref="IOException">The file could not be written; any previous file is left intact.</exception>
    public static void Save(string path, SequenceModel<float> model, Optimizer<float>? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = Format,
            [ConfigKey] = JsonSerializer.Serialize(model.Config, s_json),
        };
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (meta.ContainsKey(key)) throw new ArgumentException($"The metadata key '{key}' is reserved by the checkpoint format.", nameof(metadata));
                meta[key] = value;
            }
        }
        SafeTensorsWriter.Write(path, Tensors(model, optimizer), meta);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The model, the saved optimiser state and the metadata.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file, not an LRU.NET checkpoint, or a tensor is missing or has the wrong shape (the message names it).</exception>
    public static CheckpointData Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint {path} does not exist.", path);
        var file = SafeTensorsFile.Read(path);
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format != Format)
            throw new InvalidDataException($"{path} is a safetensors file but not an LRU.NET model checkpoint ('{FormatKey}' is {(format is null ? "missing" : $"'{format}'")}).");
        if (!file.Metadata.TryGetValue(ConfigKey, out var json))
            throw new InvalidDataException($"{path}: the metadata has no '{ConfigKey}'.");
        SequenceModelConfig config;
        try
        {
            config = JsonSerializer.Deserialize<SequenceModelConfig>(json, s_json) ?? throw new InvalidDataException($"{path}: '{ConfigKey}' is empty.");
            config.Validate();
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: '{ConfigKey}' does not hold a valid model configuration: {e.Message}", e);
        }

        var model = new SequenceModel<float>(config);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.NamedParameters())
        {
            Restore(file, path, name, parameter.Shape.ToArray(), parameter.Value);
            parameter.MarkModified();
            expected.Add(name);
        }
        foreach (var (name, values) in model.NamedBuffers())
        {
            Restore(file, path, name, [values.Length], values);
            expected.Add(name);
        }

        var optimizerState = new List<(string, float[])>();
        foreach (var info in file.Tensors)
        {
            if (info.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                optimizerState.Add((info.Name[OptimizerPrefix.Length..], file.ReadFloat32(info.Name)));
            else if (!expected.Contains(info.Name))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' is not part of a model with this configuration.");
        }
        return new CheckpointData(model, optimizerState, file.Metadata);
    }

    private static IEnumerable<SafeTensorData> Tensors(SequenceModel<float> model, Optimizer<float>? optimizer)
    {
        foreach (var (name, parameter) in model.NamedParameters())
            yield return new SafeTensorData(name, parameter.Value, parameter.Shape.ToArray());
        foreach (var (name, values) in model.NamedBuffers())
            yield return new SafeTensorData(name, values, values.Length);
        if (optimizer is null) yield break;
        foreach (var (name, values) in optimizer.State())
            yield return new SafeTensorData(OptimizerPrefix + name, values, values.Length);
    }

    private static void Restore(SafeTensorsFile file, string path, string name, int[] shape, float[] destination)
    {
        if (!file.Contains(name)) throw new InvalidDataException($"{path}: tensor '{name}' is missing.");
        var info = file.GetInfo(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"{path}: tensor '{name}' has shape ({string.Join(", ", info.Shape)}) but the model needs ({string.Join(", ", shape)}).");
        file.ReadFloat32(name).CopyTo(destination, 0);
    }
}
