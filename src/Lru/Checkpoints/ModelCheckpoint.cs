using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Lru.IO;
using Lru.Models;
using Lru.Modules;
using Lru.Training;

namespace Lru.Checkpoints;

/// <summary>A checkpoint read back: the model, the optimiser state saved with it (possibly empty) and the metadata.</summary>
/// <param name="Model">The model, with its configuration, parameters and buffers restored bit-exactly.</param>
/// <param name="OptimizerState">The optimiser state entries (names without the <c>optimizer.</c> prefix), for <see cref="Optimizer{T}.LoadState"/>.</param>
/// <param name="Metadata">Every metadata entry of the file.</param>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed record CheckpointData<T>(
    SequenceModel<T> Model,
    IReadOnlyList<(string Name, T[] Values)> OptimizerState,
    IReadOnlyDictionary<string, string> Metadata) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>What a checkpoint holds besides the weights loaded into a module with <see cref="ModelCheckpoint.LoadInto"/>.</summary>
/// <param name="OptimizerState">The optimiser state entries (names without the <c>optimizer.</c> prefix), for <see cref="Optimizer{T}.LoadState"/>.</param>
/// <param name="Metadata">Every metadata entry of the file.</param>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed record CheckpointState<T>(
    IReadOnlyList<(string Name, T[] Values)> OptimizerState,
    IReadOnlyDictionary<string, string> Metadata) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// A checkpoint is one safetensors file: every parameter of a module tree under its stable hierarchical name
/// (<c>blocks.0.lru.nu_log</c>, …) as F32 (or F64 for a double model), buffers such as BatchNorm's running statistics
/// under theirs, optionally the optimiser state under <c>optimizer.*</c>, and, for a <see cref="SequenceModel{T}"/>,
/// the model configuration as JSON in the metadata (<see cref="ConfigKey"/>), so <see cref="Load{T}"/> can rebuild it.
/// Any other module tree is saved the same way and loaded into a module built by the caller with <see cref="LoadInto{T}"/>.
/// Writing is atomic (a temporary file flushed to disk, then a rename), so a process killed at any moment never leaves
/// a corrupt checkpoint and the previous one survives.
/// </summary>
/// <remarks>
/// The metadata also records the size (<see cref="DataBytesKey"/>) and the SHA-256 (<see cref="DataSha256Key"/>)
/// of the data section, every byte after the header. Loading checks both when they are present, so a damaged file is
/// refused instead of loading silently wrong weights; files without them (written by other tools, or by Python from
/// the table in docs/interop.md) load as before. Python computes the same digest with
/// <c>hashlib.sha256(data[8 + n:]).hexdigest()</c>, where <c>n</c> is the little-endian header length in the first 8 bytes.
/// Files of the first format (<see cref="FormatVersion1"/>, written before the module redesign) load unchanged: their
/// names and configuration are read as they were written.
/// </remarks>
public static class ModelCheckpoint
{
    /// <summary>The metadata key of the format marker.</summary>
    public const string FormatKey = "lru.format";

    /// <summary>The format marker written now: the configuration may hold settings the first format lacks (norm ε, direction).</summary>
    public const string Format = "lru.net-checkpoint-2";

    /// <summary>The format marker of files written before the module redesign; still read.</summary>
    public const string FormatVersion1 = "lru.net-checkpoint-1";

    /// <summary>The metadata key of the model configuration (JSON).</summary>
    public const string ConfigKey = "lru.model_config";

    /// <summary>The metadata key of the data section's length in bytes (decimal).</summary>
    public const string DataBytesKey = "lru.data_bytes";

    /// <summary>The metadata key of the data section's SHA-256 (lowercase hex).</summary>
    public const string DataSha256Key = "lru.data_sha256";

    /// <summary>The prefix of optimiser state tensors.</summary>
    public const string OptimizerPrefix = "optimizer.";

    /// <summary>Writes a checkpoint atomically.</summary>
    /// <typeparam name="T"><see cref="float"/> (F32 tensors) or <see cref="double"/> (F64).</typeparam>
    /// <param name="path">The file to write (replaced if it exists).</param>
    /// <param name="model">The module tree; a <see cref="SequenceModel{T}"/> also writes its configuration.</param>
    /// <param name="optimizer">The optimiser whose state to include, or null.</param>
    /// <param name="metadata">Extra metadata (for example what the run was); the keys of the format are reserved.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="model"/> is null.</exception>
    /// <exception cref="ArgumentException">A metadata key is reserved by the format.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save<T>(string path, Module<T> model, Optimizer<T>? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = Format,
            [DataBytesKey] = "",
            [DataSha256Key] = "",
        };
        if (model is SequenceModel<T> sequenceModel) meta[ConfigKey] = ConfigJson.Serialize(sequenceModel.Config);
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (meta.ContainsKey(key) || key == ConfigKey) throw new ArgumentException($"The metadata key '{key}' is reserved by the checkpoint format.", nameof(metadata));
                meta[key] = value;
            }
        }
        var tensors = Tensors(model, optimizer).ToList();
        var (bytes, sha256) = DataSectionHash.Of(tensors);
        meta[DataBytesKey] = bytes.ToString(CultureInfo.InvariantCulture);
        meta[DataSha256Key] = sha256;
        SafeTensorsWriter.Write(path, tensors, meta);
    }

    /// <summary>Reads a float <see cref="SequenceModel{T}"/> checkpoint (see <see cref="Load{T}"/>).</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The model, the optimiser state and the metadata.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a model checkpoint, or is damaged or inconsistent (the message says which).</exception>
    public static CheckpointData<float> Load(string path) => Load<float>(path);

    /// <summary>
    /// Reads a checkpoint of a <see cref="SequenceModel{T}"/>: rebuilds the model from the stored configuration and
    /// restores every parameter and buffer. The file is checked whole before it is used: format, integrity, every name and
    /// shape; nothing is half-read.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/> (values are converted from the file's type).</typeparam>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The model, the optimiser state and the metadata.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a model checkpoint, holds no model configuration (use <see cref="LoadInto{T}"/>), or is damaged or inconsistent.</exception>
    public static CheckpointData<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var file = Open(path);
        if (!file.Metadata.TryGetValue(ConfigKey, out var json))
            throw new InvalidDataException($"{path}: the metadata has no '{ConfigKey}', so the model cannot be rebuilt from the file; build the module and use ModelCheckpoint.LoadInto.");
        var config = ReadConfig(json, path);
        SequenceModel<T> model;
        try
        {
            model = new SequenceModel<T>(config);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: its model cannot be built as a {typeof(T).Name} model: {e.Message}", e);
        }
        var state = Restore(file, path, model);
        return new CheckpointData<T>(model, state.OptimizerState, state.Metadata);
    }

    /// <summary>
    /// Restores every parameter and buffer of a module tree the caller built (any tree, the library's or a user's) from a
    /// checkpoint written by <see cref="Save{T}"/> for a tree of the same structure. Every name and shape is checked before
    /// anything is changed: a missing or unknown tensor, or one of the wrong shape, is refused.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="model">The module tree to load into.</param>
    /// <returns>The optimiser state and the metadata.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is damaged, or does not fit the module (the message names the tensor, or for a <see cref="SequenceModel{T}"/> both configurations).</exception>
    public static CheckpointState<T> LoadInto<T>(string path, Module<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var file = Open(path);
        // Names and shapes cannot tell a pre-norm block from a post-norm one, or a reverse LRU from a forward one: a
        // SequenceModel must also have the configuration the file records.
        if (model is SequenceModel<T> sequenceModel && file.Metadata.TryGetValue(ConfigKey, out var json))
        {
            var stored = ReadConfig(json, path);
            if (stored != sequenceModel.Config)
                throw new InvalidDataException($"{path} holds a model of configuration {stored}, but the model given has {sequenceModel.Config}.");
        }
        return Restore(file, path, model);
    }

    /// <summary>The model configuration stored in a checkpoint, or <see cref="InvalidDataException"/> naming the file.</summary>
    private static SequenceModelConfig ReadConfig(string json, string path)
    {
        try
        {
            return ConfigJson.DeserializeModel(json);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: '{ConfigKey}' does not hold a valid model configuration: {e.Message}", e);
        }
    }

    private static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint {path} does not exist.", path);
        var file = SafeTensorsFile.Read(path);
        VerifyIntegrity(file, path);
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || (format != Format && format != FormatVersion1))
            throw new InvalidDataException($"{path} is a safetensors file but not an LRU.NET model checkpoint ('{FormatKey}' is {(format is null ? "missing" : $"'{format}'")}).");
        return file;
    }

    /// <summary>Checks every name and shape first, then copies the values in.</summary>
    private static CheckpointState<T> Restore<T>(SafeTensorsFile file, string path, Module<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var parameters = model.NamedParameters().ToArray();
        var buffers = model.NamedBuffers().ToArray();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, parameter) in parameters)
        {
            Expect(file, path, name, parameter.Shape.ToArray());
            expected.Add(name);
        }
        foreach (var (name, values) in buffers)
        {
            Expect(file, path, name, [values.Length]);
            expected.Add(name);
        }
        foreach (var info in file.Tensors)
        {
            if (!info.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal) && !expected.Contains(info.Name))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' is not part of this {model.TypeName}.");
        }

        foreach (var (name, parameter) in parameters) parameter.Assign(file.Read<T>(name));
        foreach (var (name, values) in buffers) file.Read<T>(name).CopyTo(values, 0);
        var optimizerState = new List<(string, T[])>();
        foreach (var info in file.Tensors)
        {
            if (info.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                optimizerState.Add((info.Name[OptimizerPrefix.Length..], file.Read<T>(info.Name)));
        }
        return new CheckpointState<T>(optimizerState, file.Metadata);
    }

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

    private static IEnumerable<SafeTensorData> Tensors<T>(Module<T> model, Optimizer<T>? optimizer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (name, parameter) in model.NamedParameters())
            yield return SafeTensorData.Create(name, parameter.Value.ToArray(), parameter.Shape.ToArray());
        foreach (var (name, values) in model.NamedBuffers())
            yield return SafeTensorData.Create(name, (T[])values.Clone(), values.Length);
        if (optimizer is null) yield break;
        foreach (var (name, values) in optimizer.State())
            yield return SafeTensorData.Create(OptimizerPrefix + name, values, values.Length);
    }

    private static void Expect(SafeTensorsFile file, string path, string name, int[] shape)
    {
        if (!file.Contains(name)) throw new InvalidDataException($"{path}: tensor '{name}' is missing.");
        var info = file.GetInfo(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"{path}: tensor '{name}' has shape ({string.Join(", ", info.Shape)}) but the model needs ({string.Join(", ", shape)}).");
    }
}
