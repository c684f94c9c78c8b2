//! Check cases of the data family.

use super::*;

pub(super) fn data_cases() -> Vec<Case> {
    use ops::data::{Augment, GpuDataset};
    let mut v = Vec::new();
    // (images, channels, size, batch, first batch number, augment, lowered binding limit)
    type DataCase = (usize, usize, usize, usize, u32, Augment, Option<u32>);
    let cases: &[DataCase] = &[
        (1, 1, 4, 1, 0, Augment { flip: false, max_shift: 0, brightness: 0.0 }, None),
        (7, 3, 5, 3, 0, Augment { flip: true, max_shift: 2, brightness: 0.3 }, None),
        (1000, 1, 8, 64, 14, Augment { flip: false, max_shift: 0, brightness: 0.0 }, None),
        (1000, 3, 8, 64, 30, Augment { flip: true, max_shift: 1, brightness: 0.1 }, None),
        // Four chunk bindings: 300 images of 192 bytes at a binding limit lowered to 16 KiB.
        (300, 3, 8, 16, 5, Augment { flip: true, max_shift: 3, brightness: 0.0 }, Some(16384)),
    ];
    for &(n, c, size, batch, first, aug, binding) in cases {
        let name = format!("data n={n} c={c} size={size} batch={batch} from {first} {aug:?} binding={binding:?}");
        v.push(Case::new("data", name, move |gpu, rng| {
            let lowered;
            let gpu = match binding {
                Some(b) => {
                    lowered = gpu.with_limits(|l| l.max_storage_buffer_binding_size = b as u64);
                    &lowered
                }
                None => gpu,
            };
            let pixels: Vec<u8> = (0..n * c * size * size).map(|_| rng.next_u64() as u8).collect();
            let seed = rng.next_u64();
            let ds = GpuDataset::upload(gpu, &pixels, n, c, size)?;
            let counters = GpuTensor::from_u32(gpu, &[2], &[7, first], "counters")?;
            let info = GpuTensor::zeros(gpu, &[batch, 8], DType::U32, "sample_info")?;
            let out = GpuTensor::zeros(gpu, &[batch, c, size, size], DType::F32, "batch")?;
            let mut d = ops::data::batch(gpu, &ds, batch, seed, aug, &counters, 1, &info, &out)?;
            d.push(ops::elementwise::counter_add(gpu, &counters, 1, 1)?);
            let shape = format!("N={n} [{batch},{c},{size},{size}] chunks={} aug={}", ds.chunks.len(), aug != Augment::default());
            let hb = ops::data::half_bits(n);
            let mut rows = Vec::new();
            // Three consecutive batches: crosses epoch boundaries for the small datasets.
            for j in first..first + 3 {
                let got = run_poisoned(gpu, "data batch", &d, &out)?;
                let want = cpu::data::batch(&pixels, n, c, size, batch, j, hb, seed, aug.flip, aug.max_shift, aug.brightness as f64);
                rows.push(Row::compare("data", &format!("batch #{j}"), &shape, "scalar", &got, &want, ELEMENTWISE_BOUND));
            }
            Ok(rows)
        }));
    }
    v
}
