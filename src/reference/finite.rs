//! Reference for shaders/finite.wgsl: the index of the first value that is ±inf or NaN.

pub fn first_nonfinite(x: &[f32]) -> Option<usize> {
    x.iter().position(|v| !v.is_finite())
}
