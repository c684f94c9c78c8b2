//! CIFAR-10 binary version: records of 1 label byte + 3072 bytes (3 planes of 32×32).

use std::path::{Path, PathBuf};

use super::{convert_channels, resize_center_crop, Dataset};
use crate::error::{Error, Result};

const RECORD: usize = 1 + 3 * 32 * 32;

/// `path`: a directory with data_batch_1.bin … data_batch_5.bin (or the folder above it,
/// holding cifar-10-batches-bin/), or a single .bin file. test_batch.bin is used only when no
/// training batch exists.
pub fn load(path: &Path, size: usize, channels: usize, limit: Option<usize>, strict: bool) -> Result<Dataset> {
    let mut warnings = Vec::new();
    let files: Vec<PathBuf> = if path.is_file() {
        vec![path.to_path_buf()]
    } else if path.is_dir() {
        let dir = if path.join("cifar-10-batches-bin").is_dir() { path.join("cifar-10-batches-bin") } else { path.to_path_buf() };
        let train: Vec<PathBuf> = (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).filter(|p| p.is_file()).collect();
        if !train.is_empty() {
            let missing: Vec<String> = (1..=5).map(|i| format!("data_batch_{i}.bin")).filter(|n| !dir.join(n).is_file()).collect();
            if !missing.is_empty() {
                let msg = format!(
                    "{} missing: training on {} of CIFAR-10's 5 training batches ({} images instead of 50000)",
                    missing.join(", "),
                    train.len(),
                    train.len() * 10_000
                );
                if strict {
                    return Err(Error::bad_file(&dir, format!("{msg}; restore the missing files, or drop --strict to train on the rest")));
                }
                warnings.push(format!("{}: {msg} (--strict makes this an error)", dir.display()));
            }
            train
        } else if dir.join("test_batch.bin").is_file() {
            vec![dir.join("test_batch.bin")]
        } else {
            return Err(Error::bad_file(path, "no CIFAR-10 binary batches here (data_batch_1.bin … or test_batch.bin)"));
        }
    } else {
        return Err(Error::bad_file(path, "does not exist; pass --data DIR (cifar-10-batches-bin) or a .bin file"));
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut total = 0;
    'files: for f in &files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(Error::bad_file(
                f,
                format!("{} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each: label + 3x32x32)", bytes.len()),
            ));
        }
        for rec in bytes.chunks(RECORD) {
            if limit.is_some_and(|l| total >= l) {
                break 'files;
            }
            if rec[0] > 9 {
                return Err(Error::bad_file(f, format!("record {} has label {}, CIFAR-10 labels are 0..=9", total, rec[0])));
            }
            labels.push(rec[0]);
            let fitted = resize_center_crop(&rec[1..], 3, 32, 32, size);
            pixels.extend(convert_channels(&fitted, 3, channels, size * size));
            total += 1;
        }
    }
    Ok(Dataset {
        pixels,
        n: total,
        channels,
        size,
        labels: Some(labels),
        classes: 10,
        source: format!("CIFAR-10 {} ({} files, {total} images)", path.display(), files.len()),
        warnings,
    })
}
