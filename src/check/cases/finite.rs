//! Check cases of the finite family.

use super::*;

pub(super) fn finite_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (3, false), (17, false), (65, false), (127, false), (70_001, false), (3001, true)] {
        let name = format!("finite n={n}{}", if fold { " folded" } else { "" });
        v.push(Case::new("finite", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            // Three tensors: all finite; one bad value; several (the first must win whatever
            // order the invocations run in). Bad values: NaN, +inf, −inf in turn.
            let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
            let mut inputs = [rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 1.0)];
            let at = |rng: &mut Rng| (rng.next_u64() % n as u64) as usize;
            let one = at(rng);
            inputs[1][one] = bad[one % 3];
            for k in 0..5 {
                let i = at(rng);
                inputs[2][i] = bad[k % 3];
            }
            let out = GpuTensor::from_u32(gpu, &[4], &[0; 4], "first bad")?;
            let mut dispatches = Vec::new();
            let mut tensors = Vec::new();
            for (slot, xs) in inputs.iter().enumerate() {
                tensors.push(upload(gpu, &[n], xs, "x")?);
                dispatches.push(ops::finite::first_nonfinite(gpu, &tensors[slot], &out, slot)?);
            }
            gpu.run("first_nonfinite", &dispatches.iter().collect::<Vec<_>>())?;
            let slots = out.read_u32(gpu)?;
            // Index of the first bad value, −1 for none; slot 3 is never written and stays 0.
            let got: Vec<f32> = (0..3).map(|s| ops::finite::decode(slots[s], n).map_or(-1.0, |i| i as f32)).chain([slots[3] as f32]).collect();
            let want: Vec<f64> = inputs.iter().map(|xs| cpu::finite::first_nonfinite(xs).map_or(-1.0, |i| i as f64)).chain([0.0]).collect();
            let label = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![Row::compare("finite", "first_nonfinite", &label, "wg256", &got, &want, 0.0)])
        }));
    }
    v
}
