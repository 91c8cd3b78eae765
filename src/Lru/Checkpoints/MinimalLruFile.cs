using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using Lru.IO;
using Lru.Layers;
using Lru.Models;

namespace Lru.Checkpoints;

/// <summary>
/// What a minimal-LRU parameter file cannot tell about its model: how it pools and where its norms sit. A null field
/// takes what a file written by <see cref="MinimalLruFile.Save{T}"/> records, else the default (mean, post-norm).
/// </summary>
/// <param name="Pooling">The reference's <c>pooling</c>: mean over all steps, the last step, or none (a prediction per step).</param>
/// <param name="Placement">The reference's <c>prenorm</c>: <see cref="NormPlacement.Pre"/> for <c>prenorm=True</c> (its command line's default), <see cref="NormPlacement.Post"/> for <c>prenorm=False</c> (its modules' default).</param>
public sealed record MinimalLruOptions(PoolingMode? Pooling = null, NormPlacement? Placement = null);

/// <summary>
/// A whole classification model of the JAX reference implementation (NicolasZucchet/minimal-LRU, <c>lru/model.py</c>:
/// <c>ClassificationModel</c> with its <c>StackedEncoderModel</c> of K <c>SequenceLayer</c>s), in the layout JAX users
/// export it: <c>flax.traverse_util.flatten_dict({"params": params, "batch_stats": batch_stats}, sep="/")</c> saved as
/// safetensors (<c>safetensors.flax.save_file</c>) or as <c>.npz</c> (<c>numpy.savez</c>). docs/interop.md maps every name.
/// </summary>
/// <remarks>
/// <para>
/// The model: a Dense encoder (F → H), K layers of [norm (pre or post)] → LRU → tanh GELU → GLU
/// <c>out1(z)·σ(out2(z))</c> → residual, pooling (mean over all L steps, last step, or none), a Dense decoder (H → C) and
/// <c>log_softmax</c>. Flax Dense kernels are (in, out), so they are transposed into <see cref="Linear{T}"/>'s (out, in);
/// flax LayerNorm has ε = 1e-6 and BatchNorm ε = 1e-5 with running <c>mean</c>/<c>var</c>; the norm kind is BatchNorm
/// exactly when the file holds <c>batch_stats</c>. H, N, F, C and K come from the shapes; pooling and placement from
/// <see cref="MinimalLruOptions"/>.
/// </para>
/// <para>
/// Reading refuses, naming the tensor, a missing or unexpected tensor, a wrong shape, a non-finite value, a negative
/// running variance and an integer tensor; truncated or malformed files are refused by the safetensors, zip and .npy
/// readers. Import followed by export gives back the same tensors bit for bit (F32 from a float model).
/// </para>
/// </remarks>
public static class MinimalLruFile
{
    /// <summary>The metadata key (of files this library writes) holding the model's pooling: <c>mean</c>, <c>last</c> or <c>none</c>.</summary>
    public const string PoolingKey = "lru.pooling";

    /// <summary>The metadata key (of files this library writes) holding the reference's <c>prenorm</c>: <c>true</c> or <c>false</c>.</summary>
    public const string PrenormKey = "lru.prenorm";

    private const string Layers = "params/encoder/layers_";

    /// <summary>The LayerNorm ε of flax.linen.LayerNorm.</summary>
    public const double LayerNormEpsilon = 1e-6;

    /// <summary>The BatchNorm ε of flax.linen.BatchNorm.</summary>
    public const double BatchNormEpsilon = 1e-5;

    /// <summary>Reads a minimal-LRU parameter file (.npz, recognised by its zip signature, or safetensors) into a model.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="path">The file.</param>
    /// <param name="options">Pooling and norm placement; a null one (or null fields) takes what a file this library wrote records, else mean pooling and post-norm.</param>
    /// <returns>An evaluation-mode model that ends in <see cref="LogSoftmax{T}"/> (<see cref="SequenceModelConfig.LogSoftmax"/>); its configuration says the pooling and placement used.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed or truncated, records an unknown option, or its tensors are not a minimal-LRU model (the message names the tensor).</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public static SequenceModel<T> Load<T>(string path, MinimalLruOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        var (tensors, metadata) = ReadTensors(path);
        var recorded = Recorded(metadata);
        var chosen = new MinimalLruOptions(options?.Pooling ?? recorded.Pooling ?? PoolingMode.Mean, options?.Placement ?? recorded.Placement ?? NormPlacement.Post);
        return Import<T>(tensors, chosen, path);
    }

    /// <summary>The options a file this library wrote records (null fields where it records none).</summary>
    private static MinimalLruOptions Recorded(IReadOnlyDictionary<string, string> metadata)
    {
        PoolingMode? pooling = null;
        NormPlacement? placement = null;
        if (metadata.TryGetValue(PoolingKey, out string? p))
            pooling = ParsePooling(p) ?? throw new InvalidDataException($"metadata {PoolingKey} is '{p}'; mean, last or none expected.");
        if (metadata.TryGetValue(PrenormKey, out string? prenorm))
            placement = prenorm switch { "true" => NormPlacement.Pre, "false" => NormPlacement.Post, _ => throw new InvalidDataException($"metadata {PrenormKey} is '{prenorm}'; true or false expected.") };
        return new MinimalLruOptions(pooling, placement);
    }

    /// <summary>The reference's name of a pooling mode: mean, last or none; null for another text.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The mode, or null.</returns>
    public static PoolingMode? ParsePooling(string? text) => text switch
    {
        "mean" => PoolingMode.Mean,
        "last" => PoolingMode.Last,
        "none" => PoolingMode.None,
        _ => null,
    };

    /// <summary>Builds the model from tensors named as minimal-LRU's flattened variables.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="tensors">Every tensor by flattened name: its shape and its values (row-major).</param>
    /// <param name="options">Pooling and norm placement (null fields: mean pooling, post-norm).</param>
    /// <param name="source">The file's name, for messages.</param>
    /// <returns>An evaluation-mode model that ends in <see cref="LogSoftmax{T}"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing or unexpected, has the wrong shape, a non-finite value, or a negative running variance; the message names it.</exception>
    public static SequenceModel<T> Import<T>(IReadOnlyDictionary<string, NpyArray> tensors, MinimalLruOptions options, string source)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(source);
        InvalidDataException Error(string message) => new($"minimal-LRU file '{source}': {message}");
        NpyArray Get(string name) => tensors.TryGetValue(name, out var t) ? t
            : throw Error($"the tensor {name} is missing (the file has {tensors.Count} tensors{(tensors.Count == 0 ? "" : ", e.g. " + string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal).Take(3)))}).");

        var encoder = Get("params/encoder/encoder/kernel");
        if (encoder.Shape.Count != 2) throw Error($"params/encoder/encoder/kernel has shape ({string.Join(", ", encoder.Shape)}); (F, H) expected.");
        int f = encoder.Shape[0], h = encoder.Shape[1];
        var nu = Get(Layers + "0/seq/nu_log");
        if (nu.Shape.Count != 1) throw Error($"{Layers}0/seq/nu_log has shape ({string.Join(", ", nu.Shape)}); (N) expected.");
        int n = nu.Shape[0];
        var decoder = Get("params/decoder/kernel");
        if (decoder.Shape.Count != 2) throw Error($"params/decoder/kernel has shape ({string.Join(", ", decoder.Shape)}); (H, C) expected.");
        int c = decoder.Shape[1];
        int k = 0;
        while (tensors.ContainsKey($"{Layers}{k}/seq/nu_log")) k++;
        bool batchNorm = tensors.Keys.Any(name => name.StartsWith("batch_stats/", StringComparison.Ordinal));
        if (f < 1 || h < 1 || n < 1 || c < 1) throw Error($"the sizes read from the shapes are F = {f}, H = {h}, N = {n}, C = {c}; each must be at least 1.");

        var table = Tensors(k, batchNorm, f, h, n, c);
        var expected = table.ToDictionary(t => t.Theirs, t => t.Shape);
        foreach (string name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            if (!expected.ContainsKey(name))
                throw Error($"the tensor {name} is not part of a {k}-layer ClassificationModel with {(batchNorm ? "BatchNorm" : "LayerNorm")} (a name, layer index or norm kind that does not fit).");
        }
        foreach (var (name, shape) in expected)
        {
            var t = Get(name);
            if (!t.Shape.SequenceEqual(shape))
                throw Error($"the tensor {name} has shape ({string.Join(", ", t.Shape)}); ({string.Join(", ", shape)}) expected for F = {f}, H = {h}, N = {n}, C = {c}.");
            if (t.IsInteger) throw Error($"the tensor {name} holds {NpyArray.NumpyName(t.DType)} values; floating-point parameters expected.");
        }

        var block = new LruBlockConfig(new LruConfig(h, n), batchNorm ? NormKind.BatchNorm : NormKind.LayerNorm, options.Placement ?? NormPlacement.Post,
            batchNorm ? BatchNormEpsilon : LayerNormEpsilon, MixerKind.Glu, Gelu: GeluApproximation.Tanh);
        var model = new SequenceModel<T>(new SequenceModelConfig(f, 0, c, k, block, options.Pooling ?? PoolingMode.Mean, OutputKind.Classification, LogSoftmax: true))
        {
            IsTraining = false,
        };
        var state = new Dictionary<string, System.Numerics.Tensors.Tensor<T>>();
        foreach (var (ours, theirs, _, transpose) in table)
        {
            var t = tensors[theirs];
            double[] values = t.ToFloat64();
            int bad = Array.FindIndex(values, v => !double.IsFinite(v));
            if (bad >= 0) throw Error($"the tensor {theirs} holds {values[bad].ToString(CultureInfo.InvariantCulture)} at {t.IndexText(bad)}; every parameter must be finite.");
            if (theirs.EndsWith("/normalization/var", StringComparison.Ordinal) && Array.FindIndex(values, v => v < 0) is int negative and >= 0)
                throw Error($"the tensor {theirs} holds the negative variance {values[negative].ToString(CultureInfo.InvariantCulture)} at {t.IndexText(negative)}.");
            int[] shape = [.. t.Shape];
            if (transpose)
            {
                values = Transpose(values, shape[0], shape[1]);
                shape = [shape[1], shape[0]];
            }
            var converted = new T[values.Length];
            for (int i = 0; i < values.Length; i++) converted[i] = T.CreateTruncating(values[i]);
            state[ours] = System.Numerics.Tensors.Tensor.Create(converted, ours.Contains("running_") ? [converted.Length] : shape.Select(d => (nint)d).ToArray());
        }
        model.LoadStateDictionary(state);
        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> in minimal-LRU's flattened layout, atomically: safetensors, or .npz (as
    /// <c>numpy.savez</c> writes it) when <paramref name="path"/> ends in <c>.npz</c>. Values are F32 for a float model and F64 for a
    /// double one; the pooling and placement go into the metadata (<see cref="PoolingKey"/>, <see cref="PrenormKey"/>) of a safetensors file.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="model">A classification model minimal-LRU can express (see <see cref="CheckExportable"/>).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The model uses something minimal-LRU's model does not have; the message names the setting.</exception>
    /// <exception cref="IOException">The file could not be written; any previous file is left as it was.</exception>
    public static void Save<T>(string path, SequenceModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        var tensors = Export(model);
        var config = model.Config;
        if (path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
        {
            AtomicFile.Write(path, stream =>
            {
                using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
                foreach (var (name, array) in tensors)
                {
                    using var entry = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression).Open();
                    NpyFile.Write(entry, array);
                }
            });
            return;
        }
        var metadata = new Dictionary<string, string>
        {
            [PoolingKey] = config.Pooling.ToString().ToLowerInvariant(),
            [PrenormKey] = config.Block.Placement == NormPlacement.Pre ? "true" : "false",
        };
        SafeTensorsWriter.Write(path, tensors.Select(t => typeof(T) == typeof(float)
            ? new SafeTensorData(t.Name, t.Array.ToFloat32(), [.. t.Array.Shape])
            : new SafeTensorData(t.Name, t.Array.ToFloat64(), [.. t.Array.Shape])), metadata);
    }

    /// <summary>The model's tensors in minimal-LRU's flattened layout (kernels transposed to (in, out)).</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="model">A model minimal-LRU can express.</param>
    /// <returns>Name and array (float32 for a float model, float64 for a double one), in the reference's order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="ArgumentException">The model cannot be expressed (see <see cref="CheckExportable"/>).</exception>
    public static IReadOnlyList<(string Name, NpyArray Array)> Export<T>(SequenceModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckExportable(model.Config);
        var config = model.Config;
        var state = model.StateDictionary();
        var result = new List<(string, NpyArray)>();
        foreach (var (ours, theirs, shape, transpose) in Tensors(config.Layers, config.Block.Norm == NormKind.BatchNorm, config.InputFeatures, config.Block.Hidden, config.Block.State, config.Outputs))
        {
            T[] values = state[ours].ToArray();
            if (transpose) values = Transpose(values, shape[1], shape[0]);
            result.Add((theirs, typeof(T) == typeof(float) ? NpyArray.Create((float[])(object)values, shape) : NpyArray.Create((double[])(object)values, shape)));
        }
        return result;
    }

    /// <summary>Refuses a model that minimal-LRU's <c>ClassificationModel</c> cannot express.</summary>
    /// <param name="config">The model's settings.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// Token inputs, an output other than classification, a mixer other than GLU, exact GELU (the reference's <c>nn.gelu</c>
    /// is the tanh form), no residual, a bidirectional or reverse LRU, a matrix D, or a norm ε other than flax's; the message
    /// names the setting.
    /// </exception>
    public static void CheckExportable(SequenceModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var b = config.Block;
        string? problem =
            config.UsesTokens ? "reads token ids through an Embedding (minimal-LRU one-hot encodes tokens into a Dense encoder with a bias)"
            : config.Output != OutputKind.Classification ? $"is a {config.Output} model (minimal-LRU's ClassificationModel ends in log_softmax)"
            : b.Mixer != MixerKind.Glu ? $"uses the {b.Mixer} mixer (minimal-LRU's layers use a GLU)"
            : b.Gelu != GeluApproximation.Tanh ? "uses exact GELU (minimal-LRU's nn.gelu is the tanh approximation: train with Gelu = Tanh)"
            : !b.Residual ? "has no residual connection"
            : b.Bidirectional ? "has bidirectional LRUs"
            : b.Lru.Reverse ? "runs its LRUs in reverse time"
            : b.Lru.MatrixD ? "has a matrix D (minimal-LRU's D is a vector)"
            : b.Norm == NormKind.LayerNorm && b.NormEpsilon != LayerNormEpsilon ? $"has LayerNorm ε = {b.NormEpsilon:G} (flax's is {LayerNormEpsilon:G})"
            : b.Norm == NormKind.BatchNorm && b.NormEpsilon != BatchNormEpsilon ? $"has BatchNorm ε = {b.NormEpsilon:G} (flax's is {BatchNormEpsilon:G})"
            : null;
        if (problem is not null) throw new ArgumentException($"This model cannot be written for minimal-LRU: it {problem}.", nameof(config));
    }

    /// <summary>
    /// Every tensor of a K-layer model, in the order the reference creates them: our name, theirs, their shape, and whether
    /// the matrix is transposed (flax Dense (in, out) against <see cref="Linear{T}"/>'s (out, in)).
    /// </summary>
    private static List<(string Ours, string Theirs, int[] Shape, bool Transpose)> Tensors(int k, bool batchNorm, int f, int h, int n, int c)
    {
        var list = new List<(string, string, int[], bool)>
        {
            ("encoder.weight", "params/encoder/encoder/kernel", [f, h], true),
            ("encoder.bias", "params/encoder/encoder/bias", [h], false),
        };
        for (int i = 0; i < k; i++)
        {
            string p = $"{Layers}{i}/", q = $"blocks.{i}.";
            foreach (var (name, shape) in new (string, int[])[] { ("theta_log", [n]), ("nu_log", [n]), ("gamma_log", [n]), ("B_re", [n, h]), ("B_im", [n, h]), ("C_re", [h, n]), ("C_im", [h, n]), ("D", [h]) })
                list.Add((q + "lru." + name, p + "seq/" + name, shape, false));
            foreach (string o in new[] { "out1", "out2" })
            {
                list.Add(($"{q}glu.{o}.weight", $"{p}{o}/kernel", [h, h], true));
                list.Add(($"{q}glu.{o}.bias", $"{p}{o}/bias", [h], false));
            }
            list.Add((q + "norm.weight", p + "normalization/scale", [h], false));
            list.Add((q + "norm.bias", p + "normalization/bias", [h], false));
            if (batchNorm)
            {
                list.Add((q + "norm.running_mean", $"batch_stats/encoder/layers_{i}/normalization/mean", [h], false));
                list.Add((q + "norm.running_var", $"batch_stats/encoder/layers_{i}/normalization/var", [h], false));
            }
        }
        list.Add(("decoder.weight", "params/decoder/kernel", [h, c], true));
        list.Add(("decoder.bias", "params/decoder/bias", [c], false));
        return list;
    }

    private static TValue[] Transpose<TValue>(TValue[] values, int rows, int columns)
    {
        var result = new TValue[values.Length];
        for (int r = 0; r < rows; r++)
            for (int col = 0; col < columns; col++)
                result[col * rows + r] = values[r * columns + col];
        return result;
    }

    /// <summary>Every tensor of a safetensors or .npz file as an array, and the safetensors metadata.</summary>
    private static (Dictionary<string, NpyArray> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadTensors(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"minimal-LRU file '{path}' does not exist.", path);
        var signature = new byte[4];
        using (var probe = File.OpenRead(path)) probe.ReadAtLeast(signature, 4, throwOnEndOfStream: false);
        var tensors = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        if (signature is [(byte)'P', (byte)'K', 3 or 5, 4 or 6])
        {
            try
            {
                using var zip = ZipFile.OpenRead(path);
                foreach (var entry in zip.Entries)
                {
                    if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                        throw new InvalidDataException($".npz file '{path}': the entry {entry.FullName} is not a .npy array.");
                    string name = entry.FullName[..^4];
                    using var stream = entry.Open();
                    var array = NpyFile.Read(stream, $"{path}:{entry.FullName}");
                    if (!tensors.TryAdd(name, array)) throw new InvalidDataException($".npz file '{path}': the array {name} appears twice.");
                }
            }
            catch (InvalidDataException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
            {
                throw new InvalidDataException($".npz file '{path}' is not a valid zip archive: {e.Message}", e);
            }
            return (tensors, new Dictionary<string, string>());
        }
        var file = SafeTensorsFile.Read(path);
        foreach (var info in file.Tensors)
            tensors[info.Name] = new NpyArray(file.ReadFloat64(info.Name), [.. info.Shape]);
        return (tensors, file.Metadata);
    }
}
