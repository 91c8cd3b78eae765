using System.Globalization;
using Lru.Layers;

namespace Lru.IO;

/// <summary>
/// A single LRU layer as a safetensors file in the JAX reference's layout (LRU-MATH §1): eight tensors
/// named <c>nu_log</c> (N), <c>theta_log</c> (N), <c>gamma_log</c> (N), <c>B_re</c>, <c>B_im</c> (N × H),
/// <c>C_re</c>, <c>C_im</c> (H × N) and <c>D</c> (H), with no prefix. H and N are read from the shapes, so a
/// file written from the reference's parameter dictionary (F32, F64, F16 or BF16) loads as it is.
/// </summary>
public static class LruLayerFile
{
    /// <summary>The tensor names, in LRU-MATH order.</summary>
    public static readonly IReadOnlyList<string> Names = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D"];

    /// <summary>Writes the layer's eight parameters (F32) atomically, with H and N in the metadata.</summary>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="layer">The layer.</param>
    /// <exception cref="IOException">The file could not be written; any previous file is left intact.</exception>
    public static void Save(string path, LruLayer<float> layer)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(layer);
        var tensors = layer.Parameters.Select(p => new SafeTensorData(p.Name, p.Value, p.Shape.ToArray()));
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string>
        {
            ["lru.format"] = "lru.net-layer-1",
            ["hidden"] = layer.Hidden.ToString(CultureInfo.InvariantCulture),
            ["state"] = layer.StateSize.ToString(CultureInfo.InvariantCulture),
        });
    }

    /// <summary>True when <paramref name="file"/> holds the eight tensors of a single LRU layer.</summary>
    /// <param name="file">A safetensors file.</param>
    public static bool IsLayerFile(SafeTensorsFile file) => Names.All(file.Contains);

    /// <summary>Reads a layer in the JAX reference layout.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The layer with the file's parameters.</returns>
    /// <exception cref="InvalidDataException">A tensor is missing, or the shapes are not those of one layer (the message names the tensor).</exception>
    public static LruLayer<float> Load(string path) => Load(SafeTensorsFile.Read(path));

    /// <summary>Builds a layer from an already read file in the JAX reference layout.</summary>
    /// <param name="file">The file.</param>
    /// <returns>The layer with the file's parameters.</returns>
    /// <exception cref="InvalidDataException">A tensor is missing, or the shapes are not those of one layer.</exception>
    public static LruLayer<float> Load(SafeTensorsFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        foreach (string name in Names)
            if (!file.Contains(name)) throw new InvalidDataException($"{file.DisplayName}: tensor '{name}' of the LRU layer layout is missing.");
        var d = file.GetInfo("D");
        var nu = file.GetInfo("nu_log");
        if (d.Shape.Count != 1 || nu.Shape.Count != 1 || d.Shape[0] < 1 || nu.Shape[0] < 1)
            throw new InvalidDataException($"{file.DisplayName}: 'D' and 'nu_log' must be vectors (H) and (N); they have shapes ({string.Join(", ", d.Shape)}) and ({string.Join(", ", nu.Shape)}).");
        int h = d.Shape[0], n = nu.Shape[0];
        var layer = new LruLayer<float>(new LruConfig(h, n));
        foreach (var p in layer.Parameters)
        {
            var info = file.GetInfo(p.Name);
            if (!info.Shape.SequenceEqual(p.Shape.ToArray()))
                throw new InvalidDataException($"{file.DisplayName}: tensor '{p.Name}' has shape ({string.Join(", ", info.Shape)}) but H = {h}, N = {n} needs ({string.Join(", ", p.Shape.ToArray())}).");
            file.ReadFloat32(p.Name).CopyTo(p.Value, 0);
            p.MarkModified();
        }
        return layer;
    }
}
