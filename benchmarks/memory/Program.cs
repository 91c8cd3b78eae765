// Measures the buffers a layer and a block allocate on their first training step (forward + backward) and keep
// for reuse: the peak training memory per token. Run: dotnet run -c Release --project benchmarks/memory
using Lru.Layers;
using Lru.Models;
int B = 8, L = 1024, H = 128, N = 256;
int n = B * L * H;
float[] x = new float[n], y = new float[n], g = new float[n], gx = new float[n];
void Measure(string name, Func<Lru.Modules.Module<float>> make)
{
    var warm = make(); warm.Forward(x, y, B, L); warm.Backward(g, gx, B, L); // JIT and pools
    GC.Collect();
    long before = GC.GetTotalAllocatedBytes(true);
    var layer = make();
    long construct = GC.GetTotalAllocatedBytes(true);
    layer.Forward(x, y, B, L); layer.Backward(g, gx, B, L);
    long after = GC.GetTotalAllocatedBytes(true);
    double perToken = (after - construct) / (double)(B * L);
    Console.WriteLine($"{name,-34} buffers {(after - construct) / 1048576.0,8:F1} MiB = {perToken,7:F0} B/token = {perToken / 4,6:F0} floats/token (H={H}, N={N}); parameters {(construct - before) / 1024.0:F0} KiB");
}
Measure("LruLayer", () => new LruLayer<float>(new LruConfig(H, N)));
Measure("LruBlock (LN, GLU, no dropout)", () => new LruBlock<float>(new LruBlockConfig(new LruConfig(H, N))));
Measure("LruBlock (BN, GLU, dropout 0.1)", () => new LruBlock<float>(new LruBlockConfig(new LruConfig(H, N), Norm: NormKind.BatchNorm, DropoutRate: 0.1)));
Measure("LruBlock (LN, MLP×4)", () => new LruBlock<float>(new LruBlockConfig(new LruConfig(H, N), Mixer: MixerKind.Mlp)));
