//! The CPU reference: every op in its most obvious form, in f64, with no GPU code. Written
//! differently from the kernels where that is possible (transposed convolution scatters here
//! and gathers on the GPU; batchnorm's backward is the chain rule through μ and σ², not the
//! fused formula), so one misunderstanding cannot hide in both. Every backward here is checked
//! against central finite differences (tests/reference_gradcheck.rs); every kernel against
//! these functions (src/check).

pub mod activation;
pub mod batchnorm;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod data;
pub mod distance;
pub mod embedding;
pub mod finite;
pub mod labels;
pub mod layernorm;
pub mod loss;
pub mod mask;
pub mod matmul;
pub mod minibatch_std;
pub mod net;
pub mod optim;
pub mod penalty;
pub mod pool;
pub mod projection;
pub mod random;
pub mod reduce;
pub mod spectral_norm;
pub mod vae;

/// A dense row-major f64 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor {
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    pub fn new(shape: &[usize], data: Vec<f64>) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} vs {} values", data.len());
        Tensor { shape: shape.to_vec(), data }
    }

    pub fn from_f32(shape: &[usize], data: &[f32]) -> Tensor {
        Tensor::new(shape, data.iter().map(|&v| v as f64).collect())
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The four dimensions of an NCHW tensor.
    pub fn dims4(&self) -> (usize, usize, usize, usize) {
        match self.shape[..] {
            [a, b, c, d] => (a, b, c, d),
            _ => panic!("expected a 4-D tensor, got {:?}", self.shape),
        }
    }

    pub fn at4(&self, a: usize, b: usize, c: usize, d: usize) -> f64 {
        let (_, n1, n2, n3) = self.dims4();
        self.data[((a * n1 + b) * n2 + c) * n3 + d]
    }

    pub fn at4_mut(&mut self, a: usize, b: usize, c: usize, d: usize) -> &mut f64 {
        let (_, n1, n2, n3) = self.dims4();
        &mut self.data[((a * n1 + b) * n2 + c) * n3 + d]
    }
}

/// Run `f(i)` for i in 0..n on all cores, collecting results in order. The references are plain
/// loops; this only spreads the outermost loop of the large DCGAN-sized cases over the cores.
pub fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n.max(1));
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let f = &f;
    let mut parts: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (t..n).step_by(threads).map(|i| (i, f(i))).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().map(|h| h.join().expect("reference worker panicked")).collect()
    });
    let mut out: Vec<(usize, T)> = parts.drain(..).flatten().collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, v)| v).collect()
}
