using System.Globalization;
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
/// (<see cref="ConfigKey"/>). Writing is atomic (a temporary file flushed to disk, then a rename), so a
/// process killed at any moment never leaves a corrupt checkpoint and the previous one survives.
/// </summary>
/// <remarks>
/// The metadata also records the size (<see cref="DataBytesKey"/>) and the SHA-256 (<see cref="DataSha256Key"/>)
/// of the data section, every byte after the header. <see cref="Load"/> checks both when they are present, so a
/// damaged file is refused instead of loading silently wrong weights; files without them (written by other
/// tools, or by Python from the table in docs/interop.md) load as before. Python computes the same digest with
/// <c>hashlib.sha256(data[8 + n:]).hexdigest()</c>, where <c>n</c> is the little-endian header length in the first 8 bytes.
/// </remarks>
public static class ModelCheckpoint
{
    /// <summary>The metadata key of the format marker.</summary>
    public const string FormatKey = "lru.format";

    /// <summary>The format marker's value.</summary>
    public const string Format = "lru.net-checkpoint-1";

    /// <summary>The metadata key of the model configuration (JSON).</summary>
    public const string ConfigKey = "lru.model_config";

    /// <summary>The metadata key of the data section's length in bytes (decimal).</summary>
    public const string DataBytesKey = "lru.data_bytes";

    /// <summary>The metadata key of the data section's SHA-256 (64 lowercase hexadecimal digits).</summary>
    public const string DataSha256Key = "lru.data_sha256";

    /// <summary>The prefix of optimiser state entries.</summary>
    public const string OptimizerPrefix = "optimizer.";

    private static readonly JsonSerializerOptions s_json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Writes <paramref name="model"/> (and the optimiser state) to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">An optimiser whose state to save too, or null.</param>
    /// <param name="metadata">Extra metadata entries; the keys <see cref="FormatKey"/>, <see cref="ConfigKey"/>, <see cref="DataBytesKey"/> and <see cref="DataSha256Key"/> are reserved.</param>
    /// <exception cref="ArgumentException">A metadata key collides with the checkpoint's own.</exception>
    /// <exception cref="IOException">The file could not be written; any previous file is left intact.</exception>
    /// <remarks>The values are copied first, so the file holds one consistent snapshot even if the model changes while the file is written.</remarks>
    public static void Save(string path, SequenceModel<float> model, Optimizer<float>? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = Format,
            [ConfigKey] = JsonSerializer.Serialize(model.Config, s_json),
            [DataBytesKey] = "",
            [DataSha256Key] = "",
        };
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (meta.ContainsKey(key)) throw new ArgumentException($"The metadata key '{key}' is reserved by the checkpoint format.", nameof(metadata));
                meta[key] = value;
            }
        }
        var tensors = Tensors(model, optimizer).ToList();
        var (bytes, sha256) = DataSectionHash.Of(tensors);
        meta[DataBytesKey] = bytes.ToString(CultureInfo.InvariantCulture);
        meta[DataSha256Key] = sha256;
        SafeTensorsWriter.Write(path, tensors, meta);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The model, the saved optimiser state and the metadata.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is not a valid safetensors file, its data section does not have the size or the SHA-256 its
    /// metadata records (the message names the file, the expected and the actual value), it is not an LRU.NET
    /// checkpoint, or a tensor is missing or has the wrong shape (the message names it).
    /// </exception>
    public static CheckpointData Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint {path} does not exist.", path);
        var file = SafeTensorsFile.Read(path);
        VerifyIntegrity(file, path);
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

    /// <summary>
    /// Checks the data section against <see cref="DataBytesKey"/> and <see cref="DataSha256Key"/> when the file has
    /// them (both or neither: one without the other means the metadata was edited).
    /// </summary>
    private static void VerifyIntegrity(SafeTensorsFile file, string path)
    {
        bool hasBytes = file.Metadata.TryGetValue(DataBytesKey, out var bytesText);
        bool hasSha = file.Metadata.TryGetValue(DataSha256Key, out var expectedSha);
        if (!hasBytes && !hasSha) return;
        if (!hasBytes || !hasSha)
            throw new InvalidDataException($"{path}: the metadata has '{(hasBytes ? DataBytesKey : DataSha256Key)}' but not '{(hasBytes ? DataSha256Key : DataBytesKey)}'; a checkpoint records both or neither.");
        if (!long.TryParse(bytesText, NumberStyles.None, CultureInfo.InvariantCulture, out long expectedBytes))
            throw new InvalidDataException($"{path}: '{DataBytesKey}' must be a non-negative decimal integer but is '{bytesText}'.");

        long actualBytes = file.Tensors.Sum(t => t.ByteLength);
        if (actualBytes != expectedBytes)
            throw new InvalidDataException($"{path}: the data section has {actualBytes} bytes but '{DataBytesKey}' records {expectedBytes}; the file was truncated or changed after it was written.");
        var (_, actualSha) = DataSectionHash.Of(file);
        if (!string.Equals(actualSha, expectedSha, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{path}: the data section's SHA-256 is {actualSha} but '{DataSha256Key}' records {expectedSha}; the file is damaged, or its tensors were changed by a tool that kept the metadata (such a tool must drop '{DataBytesKey}' and '{DataSha256Key}').");
    }

    /// <summary>Every tensor of the checkpoint, with the model's values copied so that the file is one snapshot.</summary>
    private static IEnumerable<SafeTensorData> Tensors(SequenceModel<float> model, Optimizer<float>? optimizer)
    {
        foreach (var (name, parameter) in model.NamedParameters())
            yield return new SafeTensorData(name, (float[])parameter.Value.Clone(), parameter.Shape.ToArray());
        foreach (var (name, values) in model.NamedBuffers())
            yield return new SafeTensorData(name, (float[])values.Clone(), values.Length);
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
