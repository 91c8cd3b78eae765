using Lru.Data;
using Lru.Tests.IO;
using Xunit.Abstractions;

namespace Lru.Tests.Data;

/// <summary>
/// <see cref="FashionMnist.Load"/> on a tiny synthetic data set that every test writes into a temporary folder (IDX files
/// with the names the loader expects, gzip and raw), so the loader is tested on every machine; and on the real files
/// where the Debian package dataset-fashion-mnist is installed (reported as skipped, with the reason, where it is not).
/// </summary>
public class FashionMnistTests(ITestOutputHelper log)
{
    private const int Side = 28, Pixels = Side * Side;

    /// <summary>Pixel (row, column) of synthetic image <paramref name="image"/> of a set: every byte value occurs, 0 and 255 included.</summary>
    private static byte Pixel(int set, int image, int row, int column) => (byte)((set * 101 + image * 37 + row * Side + column * 11) % 256);

    private static readonly byte[] TrainLabels = [3, 0, 9, 1, 7];
    private static readonly byte[] TestLabels = [9, 0, 5];

    private static byte[] Images(int set, int count, int side = Side)
    {
        var data = new byte[count * side * side];
        for (int i = 0; i < count; i++)
            for (int r = 0; r < side; r++)
                for (int c = 0; c < side; c++)
                    data[(i * side + r) * side + c] = Pixel(set, i, r, c);
        return IdxTests.Build(0x08, [(uint)count, (uint)side, (uint)side], data);
    }

    /// <summary>Writes one file under its Fashion-MNIST name, gzipped (with the .gz suffix) or raw.</summary>
    private static void Write(TempDirectory dir, string name, byte[] idx, bool gzip) =>
        File.WriteAllBytes(dir.File(gzip ? name + ".gz" : name), gzip ? IdxTests.Gzip(idx) : idx);

    /// <summary>The four files of the synthetic set: 5 training and 3 test images with their labels.</summary>
    private static void WriteSet(TempDirectory dir, bool gzipTrain, bool gzipTest)
    {
        Write(dir, "train-images-idx3-ubyte", Images(0, TrainLabels.Length), gzipTrain);
        Write(dir, "train-labels-idx1-ubyte", IdxTests.Build(0x08, [(uint)TrainLabels.Length], TrainLabels), gzipTrain);
        Write(dir, "t10k-images-idx3-ubyte", Images(1, TestLabels.Length), gzipTest);
        Write(dir, "t10k-labels-idx1-ubyte", IdxTests.Build(0x08, [(uint)TestLabels.Length], TestLabels), gzipTest);
    }

    /// <summary>
    /// Checks a loaded set against the synthetic one: (count, 784, 1) inputs, row by row, each byte p as p/255 rounded to
    /// float (within 1 float ulp of the exact quotient, 0 → 0 and 255 → 1 exactly), one class label per sequence.
    /// </summary>
    private static void AssertSet(Lru.Data.SequenceDataset<float> data, int set, byte[] labels, int count)
    {
        Assert.Equal(count, data.Count);
        Assert.Equal(Pixels, data.Length);
        Assert.Equal(1, data.Features);
        Assert.NotNull(data.Inputs);
        Assert.Equal(count * Pixels, data.Inputs.Length);
        Assert.Null(data.Tokens);
        Assert.Null(data.ValueTargets);
        Assert.False(data.PerStep);
        Assert.Null(data.Lengths);
        Assert.Equal(labels.Take(count).Select(l => (int)l), data.ClassTargets!);
        for (int i = 0; i < count; i++)
            for (int r = 0; r < Side; r++)
                for (int c = 0; c < Side; c++)
                {
                    int p = Pixel(set, i, r, c);
                    float actual = data.Inputs[i * Pixels + r * Side + c];
                    double exact = p / 255.0;
                    Assert.True(Math.Abs(actual - exact) <= Math.Max(float.Epsilon, 0.6 * (MathF.BitIncrement((float)exact) - (float)exact)),
                        $"set {set} image {i} pixel ({r}, {c}) = {p}: loaded {actual:R}, expected {exact:R}");
                    if (p == 0) Assert.Equal(0f, actual);
                    if (p == 255) Assert.Equal(1f, actual);
                }
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void Load_ReadsTheSyntheticSet_GzipOrRaw_WithValuesShapesAndLabels(bool gzipTrain, bool gzipTest)
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain, gzipTest);
        var (train, test) = FashionMnist.Load(dir.Path);
        AssertSet(train, 0, TrainLabels, TrainLabels.Length);
        AssertSet(test, 1, TestLabels, TestLabels.Length);
    }

    [Fact]
    public void Load_PrefersTheGzipFile_WhenBothArePresent()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain: true, gzipTest: true);
        // Raw files of the same names holding something else (one image less): the .gz files must be the ones read.
        Write(dir, "train-images-idx3-ubyte", Images(2, TrainLabels.Length - 1), gzip: false);
        Write(dir, "train-labels-idx1-ubyte", IdxTests.Build(0x08, [(uint)TrainLabels.Length - 1], TrainLabels[..^1]), gzip: false);
        var (train, _) = FashionMnist.Load(dir.Path);
        AssertSet(train, 0, TrainLabels, TrainLabels.Length);
    }

    [Theory]
    [InlineData(2, 0, 2, 3)]   // the first two training images; all test images
    [InlineData(0, 1, 5, 1)]   // all training images; the first test image
    [InlineData(5, 3, 5, 3)]   // exactly all
    [InlineData(100, 4, 5, 3)] // more than there are: all
    [InlineData(1, 1, 1, 1)]
    public void Load_TruncatesToTheFirstImages(int trainCount, int testCount, int expectedTrain, int expectedTest)
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain: true, gzipTest: false);
        var (train, test) = FashionMnist.Load(dir.Path, trainCount, testCount);
        AssertSet(train, 0, TrainLabels, expectedTrain);
        AssertSet(test, 1, TestLabels, expectedTest);
    }

    [Fact]
    public void Permutation_IsAFixedShuffleOfEveryPixel()
    {
        var order = FashionMnist.Permutation;
        Assert.Equal(Enumerable.Range(0, Pixels), order.Order());
        // A shuffle, not an identity or a reversal: few pixels stay in place (a random permutation fixes one on average).
        Assert.True(Enumerable.Range(0, Pixels).Count(t => order[t] == t) < 10);
        // Part of the task's definition: pinned to its first values and a checksum of all, so a change of the generator
        // or the seed is caught; and read-only to callers.
        Assert.Equal(FirstPermuted, order.Take(FirstPermuted.Length));
        Assert.Equal(PermutationChecksum, Enumerable.Range(0, Pixels).Sum(t => (long)(t + 1) * order[t]));
        Assert.False(order is int[], "the permutation must not be handed out as a mutable array");
    }

    /// <summary>The first eight pixels of the permuted order, as they were when the task was defined (2026-12-02).</summary>
    private static readonly int[] FirstPermuted = [143, 491, 17, 131, 697, 679, 589, 707];

    /// <summary>Σ (t + 1)·Permutation[t] of that order.</summary>
    private const long PermutationChecksum = 120_206_588;

    [Fact]
    public void PFashionMnistTask_ShowsEveryImagesPixelsInThePermutedOrder_WithTheSameLabels()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain: true, gzipTest: false);
        var settings = BuiltInTasks.Get("pfashion-mnist").Defaults;
        var (plainTrain, plainTest) = BuiltInTasks.Get("fashion-mnist").CreateData(settings, dir.Path);
        var (train, test) = BuiltInTasks.Get("pfashion-mnist").CreateData(settings, dir.Path);
        foreach (var (plain, permuted) in new[] { (plainTrain, train), (plainTest, test) })
        {
            Assert.Equal(plain.ClassTargets, permuted.ClassTargets);
            for (int i = 0; i < plain.Count; i++)
                for (int t = 0; t < Pixels; t++)
                    Assert.Equal(plain.Inputs![i * Pixels + FashionMnist.Permutation[t]], permuted.Inputs![i * Pixels + t]);
        }
        Assert.Equal(BuiltInTasks.Get("fashion-mnist").Defaults, settings);
        Assert.Throws<ArgumentException>("data", () => FashionMnist.Permute(Lru.Data.AddingTask.Generate(2, 784, 1)));
    }

    [Fact]
    public void Load_RefusesMissingFiles_SayingHowToGetThem()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain: true, gzipTest: true);
        File.Delete(dir.File("t10k-labels-idx1-ubyte.gz"));
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("t10k-labels-idx1-ubyte[.gz] not found in", e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void Load_RefusesImagesAndLabelsThatDoNotFit()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, gzipTrain: false, gzipTest: false);
        // Images of 27 × 27.
        Write(dir, "t10k-images-idx3-ubyte", Images(1, TestLabels.Length, side: 27), gzip: false);
        var shape = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("t10k images have shape (3, 27, 27), not (count, 28, 28)", shape.Message);

        // One label too few.
        WriteSet(dir, gzipTrain: false, gzipTest: false);
        Write(dir, "train-labels-idx1-ubyte", IdxTests.Build(0x08, [(uint)TrainLabels.Length - 1], TrainLabels[..^1]), gzip: false);
        var count = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("train has 5 images but labels of shape (4)", count.Message);

        // A label that is no class.
        WriteSet(dir, gzipTrain: false, gzipTest: false);
        Write(dir, "train-labels-idx1-ubyte", IdxTests.Build(0x08, [(uint)TrainLabels.Length], [3, 0, 10, 1, 7]), gzip: false);
        var label = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("train label 2 is 10, not a class 0-9", label.Message);
    }

    /// <summary>
    /// The installed data set (Debian's dataset-fashion-mnist, or the folder in the environment variable
    /// <see cref="RealFashionMnistFactAttribute.DirectoryVariable"/>): 60,000 and 10,000 images of 28 × 28 with 6,000
    /// and 1,000 of each class, the first labels as published, pixels in [0, 1]; reported as skipped where it is absent.
    /// </summary>
    [RealFashionMnistFact]
    public void Load_ReadsTheInstalledDataSet()
    {
        string directory = RealFashionMnistFactAttribute.Directory;
        log.WriteLine($"reading {directory}");
        var (train, test) = FashionMnist.Load(directory);
        Assert.Equal(60_000, train.Count);
        Assert.Equal(10_000, test.Count);
        foreach (var (set, per) in new[] { (train, 6000), (test, 1000) })
        {
            Assert.Equal(Pixels, set.Length);
            Assert.Equal(set.Count * Pixels, set.Inputs!.Length);
            Assert.All(Enumerable.Range(0, 10), k => Assert.Equal(per, set.ClassTargets!.Count(c => c == k)));
            Assert.True(set.Inputs.All(v => v is >= 0f and <= 1f), "a pixel outside [0, 1]");
            Assert.Contains(1f, set.Inputs.AsSpan(0, 60 * Pixels).ToArray());
        }
        Assert.Equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], train.ClassTargets![..10]);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], test.ClassTargets![..10]);

        var (first, firstTest) = FashionMnist.Load(directory, trainCount: 10, testCount: 3);
        Assert.Equal(10, first.Count);
        Assert.Equal(3, firstTest.Count);
        Assert.Equal(train.Inputs!.AsSpan(0, 10 * Pixels).ToArray(), first.Inputs!);
        Assert.Equal(test.Inputs!.AsSpan(0, 3 * Pixels).ToArray(), firstTest.Inputs!);
    }
}

/// <summary>
/// A fact that reads the real Fashion-MNIST files: from the folder named by the environment variable
/// <see cref="DirectoryVariable"/> if set, otherwise from <see cref="FashionMnist.DefaultDirectory"/>. Where the four
/// files are not there the test is reported as skipped, with the reason, instead of passing without checking anything.
/// </summary>
public sealed class RealFashionMnistFactAttribute : FactAttribute
{
    /// <summary>An environment variable naming another folder with the four files.</summary>
    public const string DirectoryVariable = "LRU_FASHION_MNIST_DIR";

    /// <summary>The folder the test reads.</summary>
    public static string Directory =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } folder ? folder : FashionMnist.DefaultDirectory;

    /// <summary>Sets <see cref="FactAttribute.Skip"/> when a file is missing.</summary>
    public RealFashionMnistFactAttribute()
    {
        // Each file may also be there without its .gz suffix, as the loader accepts.
        string[] missing = FashionMnist.Files
            .Where(f => !File.Exists(Path.Combine(Directory, f)) && !File.Exists(Path.Combine(Directory, f[..^".gz".Length])))
            .ToArray();
        if (missing.Length > 0)
            Skip = $"the real Fashion-MNIST files are not in {Directory} (missing {string.Join(", ", missing)}): apt-get install dataset-fashion-mnist, or set {DirectoryVariable}; the loader is tested on synthetic files meanwhile";
    }
}
