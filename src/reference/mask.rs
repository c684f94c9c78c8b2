//! The masked autoencoder's corruption in plain Rust: each p×p patch of each image replaced by
//! `fill` where its uniform draw is below `ratio` (shaders/mask.wgsl).

/// y for x [B, C, S, S] and u [B, (S/p)²].
pub fn patch_mask(x: &[f64], u: &[f64], channels: usize, size: usize, patch: usize, ratio: f64, fill: f64) -> Vec<f64> {
    let side = size / patch;
    let per_image = channels * size * size;
    let mut y = x.to_vec();
    for (b, image) in y.chunks_mut(per_image).enumerate() {
        for c in 0..channels {
            for row in 0..size {
                for col in 0..size {
                    if u[b * side * side + (row / patch) * side + col / patch] < ratio {
                        image[(c * size + row) * size + col] = fill;
                    }
                }
            }
        }
    }
    y
}
