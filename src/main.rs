use shadergan::bench::{time_dispatches, Protocol};
use shadergan::gpu::{AdapterChoice, DType, Gpu, GpuTensor};
use shadergan::ops::matmul::{matmul, MatmulKernel, MatmulSpec};

fn main() {
    let gpu = Gpu::new(&AdapterChoice::default()).unwrap();
    println!("{}", gpu.describe());
    println!("{:?}", gpu.caps);
    for &n in &[256usize, 512, 1024] {
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i * 104729 % 997) as f32 / 997.0) - 0.5).collect();
        let ta = GpuTensor::from_f32(&gpu, &[n, n], &a, "a").unwrap();
        let tb = GpuTensor::from_f32(&gpu, &[n, n], &b, "b").unwrap();
        let tc = GpuTensor::zeros(&gpu, &[n, n], DType::F32, "c").unwrap();
        let spec = MatmulSpec::new(n, n, n);
        let mut reference: Option<Vec<f32>> = None;
        for k in MatmulKernel::ALL {
            if !k.supports(&gpu, &spec) { continue; }
            if k == MatmulKernel::Naive && n > 512 { continue; }
            let d = matmul(&gpu, &spec, &ta, &tb, None, &tc, Some(k)).unwrap();
            let t = time_dispatches(&gpu, &[&d], &Protocol { warmup: 1, reps: 5, min_reps: 3, budget: std::time::Duration::from_secs(20) }).unwrap();
            let out = tc.read_f32(&gpu).unwrap();
            let err = match &reference { None => { reference = Some(out.clone()); 0.0 }, Some(r) => r.iter().zip(&out).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max) };
            println!("{n} {:>14} {:8.2} ms {:6.2} GFLOP/s ({}) maxdiff {err:e}", k.name(), t.median_ms(), spec.flops() / t.median_ms() / 1e6, t.method);
        }
    }
}
