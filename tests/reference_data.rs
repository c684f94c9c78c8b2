//! Properties of the shuffle (no GPU): each epoch's permutation of the dataset is a bijection
//! (every image exactly once), epochs differ, and the shuffle depends on the seed.

use shadergan::ops::data::half_bits;
use shadergan::reference::data::permute;

#[test]
fn each_epoch_visits_every_image_once() {
    for n in [1u32, 2, 3, 5, 17, 64, 1000, 4097, 60_000] {
        let hb = half_bits(n as usize);
        assert!(1u64 << (2 * hb) >= n as u64);
        for epoch in [0, 1, 7] {
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = permute(i, n, hb, 12345, epoch) as usize;
                assert!(j < n as usize, "n={n}: π({i}) = {j}");
                assert!(!seen[j], "n={n} epoch {epoch}: {j} drawn twice");
                seen[j] = true;
            }
        }
    }
}

#[test]
fn epochs_and_seeds_shuffle_differently() {
    let n = 1000;
    let hb = half_bits(n as usize);
    let order = |seed, epoch| (0..n).map(|i| permute(i, n, hb, seed, epoch)).collect::<Vec<_>>();
    assert_ne!(order(1, 0), order(1, 1), "epochs must differ");
    assert_ne!(order(1, 0), order(2, 0), "seeds must differ");
    assert_eq!(order(1, 3), order(1, 3), "the same (seed, epoch) must repeat");
    let identity = (0..n).collect::<Vec<_>>();
    assert_ne!(order(1, 0), identity);
}
