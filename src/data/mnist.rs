//! MNIST / Fashion-MNIST in IDX format (LeCun et al.): images file magic 0x00000803,
//! big-endian dimensions, then u8 pixels. `.gz` or raw.

use std::path::Path;

use super::{convert_channels, find_in, read_maybe_gz, resize_center_crop, Dataset};
use crate::error::{Error, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse an IDX images file: (count, rows, cols, pixels).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    if bytes.len() < 16 {
        return Err(Error::bad_file(path, format!("{} bytes is too short for an IDX images header (16 bytes)", bytes.len())));
    }
    let magic = be32(bytes, 0);
    if magic != IMAGES_MAGIC {
        let hint = if magic == LABELS_MAGIC { " (this is a labels file; pass the images file)" } else { "" };
        return Err(Error::bad_file(path, format!("not an IDX images file: magic 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x}{hint}")));
    }
    let (n, rows, cols) = (be32(bytes, 4) as usize, be32(bytes, 8) as usize, be32(bytes, 12) as usize);
    if n == 0 || rows == 0 || cols == 0 {
        return Err(Error::bad_file(path, format!("header says {n} images of {rows}x{cols}: nothing to train on")));
    }
    // The header is untrusted: 2^31 images of 2^31x4 pixels wraps a 64-bit product to 0.
    let Some(want) = n.checked_mul(rows).and_then(|p| p.checked_mul(cols)).and_then(|p| p.checked_add(16)) else {
        return Err(Error::bad_file(path, format!("header says {n} images of {rows}x{cols}: more bytes than any file can hold (a corrupt header)")));
    };
    if bytes.len() != want {
        let what = if bytes.len() < want { "truncated" } else { "has trailing bytes" };
        return Err(Error::bad_file(path, format!("{what}: the header says {n} images of {rows}x{cols} ({want} bytes), the file has {}", bytes.len())));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

fn parse_labels(path: &Path, bytes: &[u8], n: usize) -> Result<Vec<u8>> {
    if bytes.len() < 8 || be32(bytes, 0) != LABELS_MAGIC {
        return Err(Error::bad_file(path, "not an IDX labels file (magic 0x00000801)"));
    }
    let count = be32(bytes, 4) as usize;
    if count != n || bytes.len() - 8 != n {
        return Err(Error::bad_file(path, format!("{count} labels in {} bytes for {n} images", bytes.len())));
    }
    if let Some(i) = bytes[8..].iter().position(|&l| l > 9) {
        return Err(Error::bad_file(path, format!("label {i} is {}; MNIST-format labels are 0..=9", bytes[8 + i])));
    }
    Ok(bytes[8..].to_vec())
}

/// `path`: a directory holding the standard file names (train-images-idx3-ubyte, or
/// t10k-images-idx3-ubyte when there is no training set; `.gz` or not), or an images file.
/// 28×28 digits become 32×32 by padding 2 pixels of background (the usual DCGAN-on-MNIST
/// setup), other sizes by resizing.
pub fn load(path: &Path, size: usize, channels: usize, limit: Option<usize>) -> Result<Dataset> {
    let (images_path, labels_path) = if path.is_dir() {
        let images = find_in(path, &["train-images-idx3-ubyte", "train-images.idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"])
            .ok_or_else(|| Error::bad_file(path, "no MNIST images file here (train-images-idx3-ubyte[.gz] or t10k-images-idx3-ubyte[.gz])"))?;
        let name = images.file_name().unwrap_or_default().to_string_lossy().to_string();
        let labels = find_in(path, &[name.replace("images", "labels").replace("idx3", "idx1").trim_end_matches(".gz")]);
        (images, labels)
    } else if path.is_file() {
        (path.to_path_buf(), None)
    } else {
        return Err(Error::bad_file(path, "does not exist; pass --data DIR (with the IDX files) or the images file"));
    };
    let bytes = read_maybe_gz(&images_path)?;
    let (n, rows, cols, raw) = parse_images(&images_path, &bytes)?;
    let n_keep = limit.map_or(n, |l| l.min(n));
    let labels = match labels_path {
        Some(p) => Some(parse_labels(&p, &read_maybe_gz(&p)?, n)?[..n_keep].to_vec()),
        None => None,
    };
    let mut pixels = Vec::with_capacity(n_keep * channels * size * size);
    for i in 0..n_keep {
        let img = &raw[i * rows * cols..(i + 1) * rows * cols];
        let fitted = if rows == 28 && cols == 28 && size == 32 {
            let mut out = vec![0u8; 32 * 32];
            for y in 0..28 {
                out[(y + 2) * 32 + 2..(y + 2) * 32 + 30].copy_from_slice(&img[y * 28..(y + 1) * 28]);
            }
            out
        } else {
            resize_center_crop(img, 1, rows, cols, size)
        };
        pixels.extend(convert_channels(&fitted, 1, channels, size * size));
    }
    Ok(Dataset {
        pixels,
        n: n_keep,
        channels,
        size,
        // MNIST and Fashion-MNIST: ten classes (labels are checked against it when used).
        classes: if labels.is_some() { 10 } else { 0 },
        labels,
        source: format!("MNIST-format {} ({n} images of {rows}x{cols}, {n_keep} used)", images_path.display()),
        warnings: Vec::new(),
    })
}
