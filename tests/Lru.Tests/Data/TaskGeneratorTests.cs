using Lru.Tasks;
using Lru.Data;

namespace Lru.Tests.Data;

public class TaskGeneratorTests
{
    [Fact]
    public void Copy_TargetsRepeatThePattern_OnlyOnRecallSteps()
    {
        var options = new CopyTaskOptions();
        var data = CopyTask.Generate(50, seed: 1, options);
        Assert.Equal(28, data.Length);
        Assert.Equal(8, data.Features);
        Assert.Equal(7, data.Outputs);
        int l = data.Length;
        for (int i = 0; i < data.Count; i++)
        {
            for (int t = 0; t < l; t++)
            {
                bool recall = t >= 18;
                Assert.Equal(recall, data.StepMask![i * l + t]);
                float go = data.Inputs![(i * l + t) * 8 + 7];
                Assert.Equal(t == 17 ? 1f : 0f, go);
                for (int k = 0; k < 7; k++)
                {
                    float input = data.Inputs[(i * l + t) * 8 + k], target = data.ValueTargets![(i * l + t) * 7 + k];
                    if (t >= 10) Assert.Equal(0f, input);           // blank after the pattern
                    if (!recall) Assert.Equal(0f, target);
                    else Assert.Equal(data.Inputs[(i * l + t - 18) * 8 + k], target);
                    Assert.True(input is 0 or 1 && target is 0 or 1);
                }
            }
        }
        // Bits are random: about half are set.
        double ones = data.ValueTargets!.Average();
        Assert.InRange(ones * 28 / 10, 0.4, 0.6);
        Assert.Equal(data.Inputs, CopyTask.Generate(50, seed: 1, options).Inputs);
    }

    [Fact]
    public void Copy_SizesAreConfigurable()
    {
        var data = CopyTask.Generate(3, 2, new CopyTaskOptions(PatternLength: 4, Bits: 3, Delay: 0));
        Assert.Equal(9, data.Length);
        Assert.Equal(4, data.Features);
        Assert.Throws<ArgumentOutOfRangeException>(() => CopyTask.Generate(3, 2, new CopyTaskOptions(Bits: 0)));
    }

    [Fact]
    public void Adding_TargetIsTheSumOfTheTwoMarkedValues()
    {
        const int length = 100;
        var data = AddingTask.Generate(40, length, seed: 3);
        for (int i = 0; i < data.Count; i++)
        {
            var marked = Enumerable.Range(0, length).Where(t => data.Inputs![(i * length + t) * 2 + 1] == 1).ToArray();
            Assert.Equal(2, marked.Length);
            Assert.True(marked[0] < length / 2 && marked[1] >= length / 2);
            float sum = data.Inputs![(i * length + marked[0]) * 2] + data.Inputs[(i * length + marked[1]) * 2];
            Assert.Equal(sum, data.ValueTargets![i]);
            Assert.All(Enumerable.Range(0, length), t => Assert.InRange(data.Inputs[(i * length + t) * 2], 0f, 1f));
        }
    }

    [Theory]
    [InlineData("[MAX 2 9 [MIN 4 7 ] 0 ]", 9)]
    [InlineData("[MIN 4 7 ]", 4)]
    [InlineData("[SM 5 6 7 ]", 8)]
    [InlineData("[MED 1 9 3 ]", 3)]
    [InlineData("[MED 1 2 3 6 ]", 2)]
    [InlineData("[MED 4 7 ]", 5)]
    [InlineData("[SM [MAX 9 9 ] [MIN 8 9 ] [MED 1 1 1 ] ]", 8)]
    [InlineData("7", 7)]
    [InlineData("[MAX [MIN [SM 9 9 ] 5 ] [MED 0 0 1 ] ]", 5)]
    public void ListOps_EvaluatesHandWrittenExpressions(string text, int expected)
    {
        int[] tokens = ListOps.Tokenize(text);
        Assert.Equal(expected, ListOps.Evaluate(tokens));
        Assert.Equal(text, ListOps.ToText(tokens));
    }

    [Theory]
    [InlineData("[MAX 2 3")]
    [InlineData("[MAX ]")]
    [InlineData("2 3")]
    [InlineData("]")]
    public void ListOps_RefusesMalformedExpressions(string text)
    {
        Assert.Throws<FormatException>(() => ListOps.Evaluate(ListOps.Tokenize(text)));
    }

    /// <summary>
    /// listops-lra is listops at LRA's lengths with the measured changes and nothing else (docs/results.md): the same data
    /// generator (a small draw of both gives the same expressions at the same length), bidirectional blocks, 100,000
    /// expressions, 4 epochs, up to 2,000 tokens.
    /// </summary>
    [Fact]
    public void ListOpsLra_IsListOpsAtLraLengths_WithTheMeasuredRecipe()
    {
        var listops = BuiltInTasks.Get("listops");
        var lra = BuiltInTasks.Get("listops-lra");
        var expected = listops.Defaults with
        {
            Block = listops.Defaults.Block with { Bidirectional = true },
            TrainCount = 100_000, Epochs = 4, Length = 2000,
        };
        Assert.Equal(expected, lra.Defaults);
        var small = lra.Defaults with { TrainCount = 30, TestCount = 10, Length = 300 };
        var (a, _) = lra.CreateData(small, null);
        var (b, _) = listops.CreateData(small, null);
        Assert.Equal(b.Tokens, a.Tokens);
        Assert.Equal(b.ClassTargets, a.ClassTargets);
        Assert.Equal(listops.ModelConfig(small) with { Block = small.Block }, lra.ModelConfig(small));
    }

    [Fact]
    public void ListOps_GeneratedData_IsConsistent()
    {
        var options = new ListOpsOptions(MaxLength: 120, MinLength: 10);
        var data = ListOps.Generate(200, seed: 4, options);
        Assert.Equal(120, data.Length);
        var classes = new HashSet<int>();
        for (int i = 0; i < data.Count; i++)
        {
            int len = data.Lengths![i];
            Assert.InRange(len, 10, 120);
            var tokens = data.Tokens.AsSpan(i * 120, 120);
            Assert.Equal(data.ClassTargets![i], ListOps.Evaluate(tokens[..len]));
            Assert.All(tokens[len..].ToArray(), t => Assert.Equal(ListOps.Pad, t));
            classes.Add(data.ClassTargets[i]);
        }
        Assert.True(classes.Count >= 8, $"only {classes.Count} distinct labels");
        Assert.Equal(data.Tokens, ListOps.Generate(200, seed: 4, options).Tokens);
    }
}
