//! Check cases of the mask family: patches blanked for the masked autoencoder — one pixel,
//! one patch per image, patches of 5, 7 and 13 on ragged sides, three channels sharing a
//! mask, and the MNIST shape of `--patch 4`.

use super::*;

pub(super) fn mask_cases() -> Vec<Case> {
    // (B, C, S, p, ratio)
    let shapes: &[(usize, usize, usize, usize, f32)] = &[(1, 1, 1, 1, 0.5), (3, 3, 17, 17, 0.5), (2, 3, 15, 5, 0.4), (5, 1, 28, 7, 0.75), (64, 1, 32, 4, 0.3), (1, 3, 65, 13, 0.6)];
    shapes
        .iter()
        .map(|&(b, c, s, p, ratio)| Case::new("mask", format!("mask B={b} C={c} S={s} p={p}"), move |gpu, rng| mask_case(gpu, rng, b, c, s, p, ratio)))
        .collect()
}

fn mask_case(gpu: &Gpu, rng: &mut Rng, b: usize, c: usize, s: usize, p: usize, ratio: f32) -> Result<Vec<Row>> {
    let patches = ops::mask::patches(s, p);
    let x_data = rng.normals(b * c * s * s, 1.0);
    let u_data = rng.uniforms(b * patches, 0.0, 1.0);
    // A fill no pixel has, so a blanked pixel left unwritten or a wrong patch shows.
    let fill = -0.7f32;
    let x = upload(gpu, &[b, c, s, s], &x_data, "x")?;
    let u = upload(gpu, &[b, patches], &u_data, "u")?;
    let y = GpuTensor::zeros(gpu, &[b, c, s, s], DType::F32, "y")?;
    let want = cpu::mask::patch_mask(&f64s(&x_data), &f64s(&u_data), c, s, p, ratio as f64, fill as f64);
    let got = run_poisoned(gpu, "patch_mask", &[ops::mask::patch_mask(gpu, &x, &u, &y, p, ratio, fill)?], &y)?;
    let shape = format!("B={b} C={c} S={s} p={p} r={ratio}");
    // A select: every element is either x or the fill, exactly.
    Ok(vec![Row::compare("mask", "patch_mask", &shape, "elementwise", &got, &want, 0.0)])
}
