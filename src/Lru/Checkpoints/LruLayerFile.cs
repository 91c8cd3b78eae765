using System.Globalization;
using System.Numerics;
using Lru.IO;
using Lru.Layers;
using Lru.Modules;

namespace Lru.Checkpoints;

/// <summary>
/// A single LRU layer as a safetensors file, in the JAX reference's layout (LRU-MATH §1): eight tensors
/// named <c>nu_log</c> (N), <c>theta_log</c> (N), <c>gamma_log</c> (N), <c>B_re</c>, <c>B_im</c> (N × H),
/// <c>C_re</c>, <c>C_im</c> (H × N) and <c>D</c> (H, or H × H for a matrix D), with no prefix. H and N are read from the shapes, so a
/// file written from the reference's parameter dictionary (F32, F64, F16 or BF16) loads as it is.
/// The LRU-pytorch layout is supported too (<see cref="SavePyTorchLayout{T}"/>, <see cref="LoadPyTorchLayout{T}(SafeTensorsFile)"/>):
/// <c>nu_log</c>, <c>theta_log</c>, <c>gamma_log</c> (N), complex <c>B</c> (N × H) and <c>C</c> (H × N) stored as
/// real tensors with a trailing (re, im) dimension of 2 (<c>torch.view_as_real</c>, since safetensors has no complex
/// type), and a matrix <c>D</c> (H × H).
/// </summary>
public static class LruLayerFile
{
    /// <summary>The tensor names, in LRU-MATH order.</summary>
    public static readonly IReadOnlyList<string> Names = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D"];

    /// <summary>The metadata key of the layer's direction in time: <c>forward</c> or <c>reverse</c> (<see cref="LruConfig.Reverse"/>); a file without it is a forward layer.</summary>
    public const string DirectionKey = "lru.direction";

    /// <summary>
    /// Writes the layer's eight parameters atomically (F32 for a float layer, F64 for a double one), with H, N and the
    /// direction in the metadata. A matrix <c>D</c> (<see cref="LruConfig.MatrixD"/>) is written as its (H, H) matrix.
    /// </summary>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="layer">The layer.</param>
    /// <exception cref="IOException">The file could not be written; any previous file is left intact.</exception>
    public static void Save<T>(string path, LruLayer<T> layer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(layer);
        var tensors = layer.Parameters.Select(p => SafeTensorData.Create(p.Name, p.Value.ToArray(), p.Shape.ToArray()));
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string>
        {
            [ModelCheckpoint.FormatKey] = "lru.net-layer-1",
            ["hidden"] = layer.Hidden.ToString(CultureInfo.InvariantCulture),
            ["state"] = layer.StateSize.ToString(CultureInfo.InvariantCulture),
            [DirectionKey] = layer.Config.Reverse ? "reverse" : "forward",
        });
    }

    /// <summary>True when <paramref name="file"/> holds the eight tensors of a single LRU layer.</summary>
    /// <param name="file">A safetensors file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="file"/> is null.</exception>
    public static bool IsLayerFile(SafeTensorsFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Names.All(file.Contains);
    }

    /// <summary>Reads a layer in the JAX reference layout.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The layer with the file's parameters.</returns>
    /// <exception cref="InvalidDataException">A tensor is missing, the shapes are not those of one layer (the message names the tensor), or the direction is unknown.</exception>
    public static LruLayer<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T> => Load<T>(SafeTensorsFile.Read(path));

    /// <summary>Builds a layer from an already read file in the JAX reference layout.</summary>
    /// <param name="file">The file.</param>
    /// <returns>The layer with the file's parameters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="file"/> is null.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing, the shapes are not those of one layer (the message names the tensor), or the direction is unknown.</exception>
    public static LruLayer<T> Load<T>(SafeTensorsFile file) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(file);
        foreach (string name in Names)
            if (!file.Contains(name)) throw new InvalidDataException($"{file.DisplayName}: tensor '{name}' of the LRU layer layout is missing.");
        var d = file.GetInfo("D");
        var nu = file.GetInfo("nu_log");
        bool matrixD = d.Shape.Count == 2 && d.Shape[0] == d.Shape[1];
        if ((d.Shape.Count != 1 && !matrixD) || nu.Shape.Count != 1 || d.Shape[0] < 1 || nu.Shape[0] < 1)
            throw new InvalidDataException($"{file.DisplayName}: 'D' must be a vector (H) or a square matrix (H, H) and 'nu_log' a vector (N); they have shapes ({string.Join(", ", d.Shape)}) and ({string.Join(", ", nu.Shape)}).");
        int h = d.Shape[0], n = nu.Shape[0];
        var layer = new LruLayer<T>(new LruConfig(h, n, MatrixD: matrixD, Reverse: IsReverse(file)));
        foreach (var p in layer.Parameters)
        {
            var info = file.GetInfo(p.Name);
            if (!info.Shape.SequenceEqual(p.Shape.ToArray()))
                throw new InvalidDataException($"{file.DisplayName}: tensor '{p.Name}' has shape ({string.Join(", ", info.Shape)}) but H = {h}, N = {n} needs ({string.Join(", ", p.Shape.ToArray())}).");
        }
        foreach (var p in layer.Parameters) p.Assign(file.Read<T>(p.Name));
        return layer;
    }

    /// <summary>True when <paramref name="file"/> holds a layer in the LRU-pytorch layout.</summary>
    /// <param name="file">A safetensors file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="file"/> is null.</exception>
    public static bool IsPyTorchLayout(SafeTensorsFile file) =>
        file is null ? throw new ArgumentNullException(nameof(file)) : new[] { "nu_log", "theta_log", "gamma_log", "B", "C", "D" }.All(file.Contains) && file.GetInfo("B").Shape.Count == 3;

    /// <summary>Writes the layer in the LRU-pytorch layout (an elementwise D is written as the diagonal matrix it is).</summary>
    /// <param name="path">The file to write or replace (atomically).</param>
    /// <param name="layer">The layer.</param>
    /// <exception cref="IOException">The file could not be written; any previous file is left intact.</exception>
    public static void SavePyTorchLayout<T>(string path, LruLayer<T> layer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(layer);
        int h = layer.Hidden, n = layer.StateSize;
        T[] b = new T[n * h * 2], c = new T[h * n * 2], d = new T[h * h];
        for (int i = 0; i < n * h; i++) { b[2 * i] = layer.BRe.Value[i]; b[2 * i + 1] = layer.BIm.Value[i]; }
        for (int i = 0; i < h * n; i++) { c[2 * i] = layer.CRe.Value[i]; c[2 * i + 1] = layer.CIm.Value[i]; }
        if (layer.Config.MatrixD) layer.D.Value.CopyTo(d);
        else for (int i = 0; i < h; i++) d[i * h + i] = layer.D.Value[i];
        SafeTensorsWriter.Write(path,
        [
            SafeTensorData.Create("D", d, h, h),
            SafeTensorData.Create("nu_log", layer.NuLog.Value.ToArray(), n),
            SafeTensorData.Create("theta_log", layer.ThetaLog.Value.ToArray(), n),
            SafeTensorData.Create("gamma_log", layer.GammaLog.Value.ToArray(), n),
            SafeTensorData.Create("B", b, n, h, 2),
            SafeTensorData.Create("C", c, h, n, 2),
        ], new Dictionary<string, string> { [ModelCheckpoint.FormatKey] = "lru-pytorch-layer", [DirectionKey] = layer.Config.Reverse ? "reverse" : "forward" });
    }

    /// <summary>Reads a layer in the LRU-pytorch layout into a layer with a matrix D (<see cref="LruConfig.MatrixD"/>).</summary>
    /// <param name="file">The file.</param>
    /// <returns>The layer.</returns>
    /// <exception cref="InvalidDataException">A tensor is missing or has the wrong shape (the message names it); in and out widths differ (LRU.NET layers map H to H).</exception>
    public static LruLayer<T> LoadPyTorchLayout<T>(SafeTensorsFile file) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(file);
        foreach (string name in new[] { "nu_log", "theta_log", "gamma_log", "B", "C", "D" })
            if (!file.Contains(name)) throw new InvalidDataException($"{file.DisplayName}: tensor '{name}' of the LRU-pytorch layout is missing.");
        var dInfo = file.GetInfo("D");
        if (dInfo.Shape.Count != 2 || dInfo.Shape[0] != dInfo.Shape[1] || dInfo.Shape[0] < 1)
            throw new InvalidDataException($"{file.DisplayName}: 'D' has shape ({string.Join(", ", dInfo.Shape)}); LRU.NET layers need a square (H × H) D (the same input and output width).");
        int h = dInfo.Shape[0], n = file.GetInfo("nu_log").Shape.Count == 1 ? file.GetInfo("nu_log").Shape[0] : -1;
        if (n < 1) throw new InvalidDataException($"{file.DisplayName}: 'nu_log' must be a vector (N).");
        Expect(file, "theta_log", n); Expect(file, "gamma_log", n);
        Expect(file, "B", n, h, 2); Expect(file, "C", h, n, 2);
        var layer = new LruLayer<T>(new LruConfig(h, n, MatrixD: true, Reverse: IsReverse(file)));
        layer.NuLog.Assign(file.Read<T>("nu_log"));
        layer.ThetaLog.Assign(file.Read<T>("theta_log"));
        layer.GammaLog.Assign(file.Read<T>("gamma_log"));
        layer.D.Assign(file.Read<T>("D"));
        T[] b = file.Read<T>("B"), c = file.Read<T>("C");
        T[] bRe = new T[n * h], bIm = new T[n * h], cRe = new T[h * n], cIm = new T[h * n];
        for (int i = 0; i < n * h; i++) { bRe[i] = b[2 * i]; bIm[i] = b[2 * i + 1]; }
        for (int i = 0; i < h * n; i++) { cRe[i] = c[2 * i]; cIm[i] = c[2 * i + 1]; }
        layer.BRe.Assign(bRe);
        layer.BIm.Assign(bIm);
        layer.CRe.Assign(cRe);
        layer.CIm.Assign(cIm);
        return layer;
    }

    /// <summary>The direction recorded in the metadata: absent or <c>forward</c> is forward in time, <c>reverse</c> backwards.</summary>
    private static bool IsReverse(SafeTensorsFile file) =>
        !file.Metadata.TryGetValue(DirectionKey, out var direction) || direction == "forward" ? false
        : direction == "reverse" ? true
        : throw new InvalidDataException($"{file.DisplayName}: '{DirectionKey}' is '{direction}'; it must be 'forward' or 'reverse'.");

    private static void Expect(SafeTensorsFile file, string name, params int[] shape)
    {
        var info = file.GetInfo(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"{file.DisplayName}: tensor '{name}' has shape ({string.Join(", ", info.Shape)}) but ({string.Join(", ", shape)}) is needed.");
    }
}
