using Lru.Layers;
using Lru.Training;

namespace Lru.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void Constant_ReturnsItsFactorAtEveryStep()
    {
        Assert.Equal(1.0, ConstantSchedule.One.Factor(0));
        Assert.Equal(1.0, ConstantSchedule.One.Factor(1_000_000_000_000));
        var half = new ConstantSchedule(0.5);
        Assert.Equal(0.5, half.Factor(17));
        Assert.Equal(0.5, half.ConstantFactor);
        ILearningRateSchedule schedule = half;
        Assert.Equal(1.5e-3, schedule.LearningRate(3, 3e-3));
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantSchedule(-1)).ParamName);
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantSchedule(double.NaN)).ParamName);
    }

    [Fact]
    public void WarmupCosine_ValuesAtChosenSteps()
    {
        const double min = 0.1;
        var s = new LinearWarmupCosineSchedule(warmupSteps: 10, totalSteps: 110, minFactor: min);
        Assert.Equal(0.0, s.Factor(0));                          // start of warm-up
        Assert.Equal(0.5, s.Factor(5), 1e-15);                   // mid warm-up
        Assert.Equal(0.9, s.Factor(9), 1e-15);
        Assert.Equal(1.0, s.Factor(10));                         // end of warm-up = start of cosine
        Assert.Equal((1 + min) / 2, s.Factor(60), 1e-15);        // mid-cosine
        Assert.Equal(min + (1 - min) * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.Factor(35), 1e-15);
        Assert.Equal(min, s.Factor(110));                        // end
        Assert.Equal(min, s.Factor(10_000));                     // constant after the end
        Assert.Equal(2e-4 * (1 + min) / 2, ((ILearningRateSchedule)s).LearningRate(60, 2e-4), 1e-18);
    }

    [Fact]
    public void WarmupCosine_StartFactorAndZeroWarmup()
    {
        var s = new LinearWarmupCosineSchedule(warmupSteps: 4, totalSteps: 8, startFactor: 0.2);
        Assert.Equal(0.2, s.Factor(0));
        Assert.Equal(0.6, s.Factor(2), 1e-15);
        Assert.Equal(1.0, s.Factor(4));
        Assert.Equal(0.5, s.Factor(6), 1e-15);
        Assert.Equal(0.0, s.Factor(8));

        var noWarmup = new LinearWarmupCosineSchedule(warmupSteps: 0, totalSteps: 100);
        Assert.Equal(1.0, noWarmup.Factor(0));
        Assert.Equal(0.5, noWarmup.Factor(50), 1e-15);
        Assert.Equal(0.0, noWarmup.Factor(100));

        var allWarmup = new LinearWarmupCosineSchedule(warmupSteps: 10, totalSteps: 10, minFactor: 0.3);
        Assert.Equal(0.5, allWarmup.Factor(5), 1e-15);
        Assert.Equal(0.3, allWarmup.Factor(10));
    }

    [Fact]
    public void WarmupCosine_RisesThenFallsMonotonically()
    {
        var s = new LinearWarmupCosineSchedule(warmupSteps: 50, totalSteps: 400, minFactor: 0.05, startFactor: 0.01);
        for (long t = 1; t <= 50; t++) Assert.True(s.Factor(t) > s.Factor(t - 1), $"warm-up step {t}");
        for (long t = 51; t <= 400; t++) Assert.True(s.Factor(t) < s.Factor(t - 1), $"decay step {t}");
        for (long t = 0; t <= 500; t++) Assert.InRange(s.Factor(t), 0.01, 1.0);
    }

    [Fact]
    public void WarmupCosine_RejectsBadArgumentsByName()
    {
        void Rejects(Func<LinearWarmupCosineSchedule> create, string name, string value)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => create());
            Assert.Equal(name, e.ParamName);
            Assert.Contains(value, e.Message);
        }

        Rejects(() => new LinearWarmupCosineSchedule(20, 10), "warmupSteps", "20");
        Rejects(() => new LinearWarmupCosineSchedule(-1, 10), "warmupSteps", "-1");
        Rejects(() => new LinearWarmupCosineSchedule(0, 0), "totalSteps", "0");
        Rejects(() => new LinearWarmupCosineSchedule(1, 10, minFactor: 1.5), "minFactor", "1.5");
        Rejects(() => new LinearWarmupCosineSchedule(1, 10, minFactor: double.NaN), "minFactor", "NaN");
        Rejects(() => new LinearWarmupCosineSchedule(1, 10, startFactor: -0.1), "startFactor", "-0.1");
        Assert.Equal("step", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearWarmupCosineSchedule(1, 10).Factor(-1)).ParamName);
        Assert.Equal("step", Assert.Throws<ArgumentOutOfRangeException>(() => ConstantSchedule.One.Factor(-1)).ParamName);
    }

    [Fact]
    public void Optimizer_ScalesBothGroupsByTheScheduleAtEachStep()
    {
        var schedule = new LinearWarmupCosineSchedule(warmupSteps: 2, totalSteps: 6, minFactor: 0.2, startFactor: 0.5);
        var w = new Parameter<double>("w", 4);
        var nu = new Parameter<double>("nu_log", 4);
        Array.Fill(w.Values, 1.0);
        var optimizer = new AdamW<double>([("w", w), ("nu_log", nu)], new AdamWSettings
        {
            LearningRate = 0.1, WeightDecay = 0.5, SsmLearningRateFactor = 0.4, Schedule = schedule,
        });

        // Zero gradients: w shrinks by (1 − lr·factor(t)·wd) at step t; nu_log stays put.
        double expectedW = 1.0;
        for (long t = 0; t < 8; t++)
        {
            Assert.Equal(schedule.Factor(t), optimizer.CurrentScheduleFactor);
            Assert.Equal(0.1 * schedule.Factor(t), optimizer.CurrentLearningRate(ParameterGroupSettings.DecayGroupName), 1e-17);
            Assert.Equal(0.04 * schedule.Factor(t), optimizer.CurrentLearningRate(ParameterGroupSettings.SsmGroupName), 1e-17);
            optimizer.Step();
            expectedW *= 1 - 0.1 * schedule.Factor(t) * 0.5;
            Assert.Equal(expectedW, w.Values[0], 1e-15);
            Assert.Equal(0.0, nu.Value[0]);
        }

        // The SSM rate is scheduled too: a fresh optimiser's first step with g = 1 moves nu_log by lr_ssm·factor(0).
        var nu2 = new Parameter<double>("nu_log", 1);
        nu2.Gradient[0] = 1.0;
        var fresh = new AdamW<double>([("nu_log", nu2)], new AdamWSettings { LearningRate = 0.1, SsmLearningRateFactor = 0.4, Schedule = schedule });
        fresh.Step();
        Assert.Equal(-0.04 * 0.5 / (1 + 1e-8), nu2.Value[0], 1e-14);
    }

    private sealed class BrokenSchedule : ILearningRateSchedule
    {
        public double Factor(long step) => step < 1 ? 1.0 : double.NaN;
    }

    [Fact]
    public void Optimizer_RejectsANonFiniteScheduleFactor()
    {
        var w = new Parameter<float>("w", 3);
        var optimizer = new AdamW<float>([("w", w)], new AdamWSettings { Schedule = new BrokenSchedule() });
        optimizer.Step();
        long version = w.Version;
        var e = Assert.Throws<InvalidOperationException>(optimizer.Step);
        Assert.Contains("NaN", e.Message);
        Assert.Equal(1, optimizer.StepCount);
        Assert.Equal(version, w.Version);
    }
}
