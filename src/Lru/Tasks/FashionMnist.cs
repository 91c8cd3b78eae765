using Lru.IO;
using Lru.Data;
using Lru.Tensors;

namespace Lru.Tasks;

/// <summary>
/// Pixel-level sequential Fashion-MNIST: each 28×28 image becomes a sequence of 784 steps with one
/// feature (the grey value scaled to [0, 1]), row by row; the label is one of 10 classes. Read from the
/// IDX files of the Debian package <c>dataset-fashion-mnist</c> (gzip or raw).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The four files, each also accepted without the <c>.gz</c> suffix.</summary>
    public static readonly IReadOnlyList<string> Files =
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

    /// <summary>The help text for missing files.</summary>
    public const string HowToGet =
        "Install the Debian package (apt-get install dataset-fashion-mnist, which puts the IDX files in /usr/share/datasets/fashion-mnist), " +
        "or pass --data DIR with the four files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].";

    // Declared before Permutation, which wraps it: static fields initialise in textual order.
    private static readonly int[] s_permutation = MakePermutation();

    /// <summary>The seed of <see cref="Permutation"/>; part of the task's definition, never to be changed.</summary>
    public const long PermutationSeed = 784_2023;

    /// <summary>
    /// The fixed pixel order of permuted sequential Fashion-MNIST (task <c>pfashion-mnist</c>, as psMNIST is to sMNIST):
    /// step t of a sequence shows pixel <c>Permutation[t]</c> of the image in row-major order (row·28 + column). A
    /// Fisher–Yates shuffle of 0…783 drawn with <see cref="SeededRandom"/>(<see cref="PermutationSeed"/>): the same on
    /// every machine, in every run.
    /// </summary>
    public static IReadOnlyList<int> Permutation { get; } = Array.AsReadOnly(s_permutation);

    private static int[] MakePermutation()
    {
        var order = Enumerable.Range(0, 784).ToArray();
        var random = new SeededRandom(PermutationSeed);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>The same images with their pixels in <see cref="Permutation"/>'s order; labels unchanged.</summary>
    /// <param name="data">Sequential Fashion-MNIST as <see cref="Load"/> gives it: (count, 784, 1).</param>
    /// <returns>A new data set: step t of image i is step <c>Permutation[t]</c> of the same image in <paramref name="data"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="data"/> is not (count, 784, 1) unpadded real-valued sequences with a class per sequence.</exception>
    public static SequenceDataset<float> Permute(SequenceDataset<float> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length != 784 || data.Features != 1 || data.Inputs is null || data.ClassTargets is null || data.PerStep || data.Lengths is not null)
            throw new ArgumentException($"Expected sequential Fashion-MNIST, (count, 784, 1) unpadded pixels with a class per image; got (count {data.Count}, length {data.Length}, features {data.Features}).", nameof(data));
        float[] pixels = new float[data.Inputs.Length];
        for (int i = 0; i < data.Count; i++)
            for (int t = 0; t < 784; t++) pixels[i * 784 + t] = data.Inputs[i * 784 + s_permutation[t]];
        return new SequenceDataset<float>(data.Count, 784, 1, pixels, null, data.ClassTargets, null);
    }

    /// <summary>Loads the training and test sets.</summary>
    /// <param name="directory">The folder with the four IDX files.</param>
    /// <param name="trainCount">Use the first this many training images, or 0 for all 60,000.</param>
    /// <param name="testCount">Use the first this many test images, or 0 for all 10,000.</param>
    /// <returns>Sequences (count, 784, 1) with labels (count).</returns>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to get them.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or images and labels disagree.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trainCount"/> or <paramref name="testCount"/> is negative.</exception>
    public static (SequenceDataset<float> Train, SequenceDataset<float> Test) Load(string directory, int trainCount = 0, int testCount = 0)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegative(testCount);
        return (LoadSet(directory, "train", trainCount), LoadSet(directory, "t10k", testCount));
    }

    private static SequenceDataset<float> LoadSet(string directory, string prefix, int limit)
    {
        var images = IdxFile.Read(Find(directory, $"{prefix}-images-idx3-ubyte"));
        var labels = IdxFile.Read(Find(directory, $"{prefix}-labels-idx1-ubyte"));
        if (images.Shape.Count != 3 || images.Shape[1] != 28 || images.Shape[2] != 28)
            throw new InvalidDataException($"{prefix} images have shape ({string.Join(", ", images.Shape)}), not (count, 28, 28).");
        if (labels.Shape.Count != 1 || labels.Shape[0] != images.Shape[0])
            throw new InvalidDataException($"{prefix} has {images.Shape[0]} images but labels of shape ({string.Join(", ", labels.Shape)}).");
        int count = limit > 0 ? Math.Min(limit, images.Shape[0]) : images.Shape[0];
        float[] pixels = images.ToFloat32(1.0 / 255);
        if (pixels.Length != count * 784) Array.Resize(ref pixels, count * 784);
        float[] rawLabels = labels.ToFloat32();
        int[] classes = new int[count];
        for (int i = 0; i < count; i++)
        {
            classes[i] = (int)rawLabels[i];
            if (classes[i] is < 0 or > 9) throw new InvalidDataException($"{prefix} label {i} is {classes[i]}, not a class 0-9.");
        }
        return new SequenceDataset<float>(count, 784, 1, pixels, null, classes, null);
    }

    private static string Find(string directory, string name)
    {
        foreach (string candidate in new[] { name + ".gz", name })
        {
            string path = Path.Combine(directory, candidate);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"Fashion-MNIST file {name}[.gz] not found in {directory}. {HowToGet}", Path.Combine(directory, name + ".gz"));
    }
}
