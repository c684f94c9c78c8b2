//! Datasets: decoded once on the host into [N, C, size, size] u8 at the model's size, then
//! uploaded once (ops::data::GpuDataset). Every loader refuses a bad file with a one-line error
//! that names the file and what is wrong with it.

pub mod cifar;
pub mod folder;
pub mod mnist;
pub mod synthetic;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Built-in procedural shapes (no download).
    Synthetic,
    /// MNIST / Fashion-MNIST IDX files (.gz or raw).
    Mnist,
    /// The CIFAR-10 binary batches.
    Cifar10,
    /// Every PNG/JPEG under a directory.
    Folder,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Synthetic => "synthetic shapes",
            DatasetKind::Mnist => "MNIST",
            DatasetKind::Cifar10 => "CIFAR-10",
            DatasetKind::Folder => "an image folder",
        }
    }

    /// Classes of the labelled sources (None: no labels).
    pub fn classes(self) -> Option<usize> {
        match self {
            DatasetKind::Synthetic => Some(synthetic::CLASSES.len()),
            DatasetKind::Mnist | DatasetKind::Cifar10 => Some(10),
            DatasetKind::Folder => None,
        }
    }

    /// Channels of the images as stored.
    pub fn natural_channels(self) -> usize {
        match self {
            DatasetKind::Mnist => 1,
            _ => 3,
        }
    }
}

/// Decoded images at the model's size and channel count.
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub n: usize,
    pub channels: usize,
    pub size: usize,
    /// Class labels where the source has them.
    pub labels: Option<Vec<u8>>,
    /// Number of classes of the source (10 for MNIST and CIFAR-10, 4 for the shapes; 0 without
    /// labels): a subset may not contain every class, so this is not max(label) + 1.
    pub classes: usize,
    /// What was loaded, for logs and config.json.
    pub source: String,
    /// What the loader skipped or found odd (a truncated image, a missing batch), one line each:
    /// the command prints them, so nothing is dropped silently.
    pub warnings: Vec<String>,
}

impl Dataset {
    pub fn image(&self, i: usize) -> &[u8] {
        let per = self.channels * self.size * self.size;
        &self.pixels[i * per..(i + 1) * per]
    }
}

/// Load `kind` from `path` (unused for synthetic) as `channels`×`size`×`size` images, at most
/// `limit` of them. `strict`: what would be a warning (a truncated image, a missing CIFAR-10
/// batch) is an error.
pub fn load(kind: DatasetKind, path: Option<&Path>, size: usize, channels: usize, limit: Option<usize>, synthetic_count: usize, strict: bool) -> Result<Dataset> {
    let need_path = || {
        path.ok_or_else(|| Error::invalid("--data", format!("--dataset {kind:?} needs --data PATH (the {})", match kind {
            DatasetKind::Mnist => "directory with the IDX files, or the images file",
            DatasetKind::Cifar10 => "directory with data_batch_*.bin, or one .bin file",
            _ => "directory of PNG/JPEG images",
        }).to_lowercase()))
    };
    let mut ds = match kind {
        DatasetKind::Synthetic => synthetic::generate(synthetic_count, size, channels),
        DatasetKind::Mnist => mnist::load(need_path()?, size, channels, limit)?,
        DatasetKind::Cifar10 => cifar::load(need_path()?, size, channels, limit, strict)?,
        DatasetKind::Folder => folder::load(need_path()?, size, channels, limit, strict)?,
    };
    if let Some(l) = limit
        && ds.n > l
    {
        let per = ds.channels * ds.size * ds.size;
        ds.pixels.truncate(l * per);
        if let Some(labels) = &mut ds.labels {
            labels.truncate(l);
        }
        ds.n = l;
    }
    Ok(ds)
}

/// Read a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_file(path, format!("corrupt gzip data ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The first of `names` (with or without `.gz`) that exists in `dir`.
pub fn find_in(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    for n in names {
        for candidate in [dir.join(n), dir.join(format!("{n}.gz"))] {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Resample a `c`×`h`×`w` u8 image (planar) to `size`×`size`: scale the shorter side to `size`
/// (bilinear, via the image crate) and crop the centre.
pub fn resize_center_crop(planes: &[u8], c: usize, h: usize, w: usize, size: usize) -> Vec<u8> {
    if h == size && w == size {
        return planes.to_vec();
    }
    let scale = size as f64 / h.min(w) as f64;
    let (nh, nw) = (((h as f64 * scale).round() as u32).max(size as u32), ((w as f64 * scale).round() as u32).max(size as u32));
    let (top, left) = ((nh as usize - size) / 2, (nw as usize - size) / 2);
    let mut out = vec![0u8; c * size * size];
    for ch in 0..c {
        let plane = image::GrayImage::from_raw(w as u32, h as u32, planes[ch * h * w..(ch + 1) * h * w].to_vec())
            .expect("plane size matches");
        let resized = image::imageops::resize(&plane, nw, nh, image::imageops::FilterType::Triangle);
        for y in 0..size {
            for x in 0..size {
                out[(ch * size + y) * size + x] = resized.get_pixel((left + x) as u32, (top + y) as u32)[0];
            }
        }
    }
    out
}

/// Convert a planar image between 1 and 3 channels (gray → RGB replicates; RGB → gray uses
/// ITU-R BT.601 luma, as PIL's convert("L")).
pub fn convert_channels(planes: &[u8], from: usize, to: usize, pixels: usize) -> Vec<u8> {
    match (from, to) {
        (a, b) if a == b => planes.to_vec(),
        (1, 3) => [planes, planes, planes].concat(),
        (3, 1) => (0..pixels)
            .map(|i| {
                let (r, g, b) = (planes[i] as f32, planes[pixels + i] as f32, planes[2 * pixels + i] as f32);
                (0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8
            })
            .collect(),
        _ => unreachable!("channels are 1 or 3"),
    }
}

/// Pixels as the networks see them, [0, 255] → [−1, 1], as data.wgsl scales a batch (without
/// its augmentation): for host-side evaluation of whole splits.
pub fn to_unit_range(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 127.5 - 1.0).collect()
}

/// The fixed held-out split of `n` images: `fraction` of them (at least 1, leaving at least 2
/// to train on), chosen by a permutation with a fixed seed so that every run, whatever its
/// training seed, holds out the same images — and a folder sorted by class does not lose one
/// class to the split. Returns (training indices, held-out indices), each in ascending order.
pub fn holdout_split(n: usize, fraction: f64) -> (Vec<usize>, Vec<usize>) {
    let held = ((n as f64 * fraction).round() as usize).clamp(1, n.saturating_sub(2).max(1));
    let mut order: Vec<usize> = (0..n).collect();
    crate::rng::Rng::for_case(0, "holdout split").shuffle(&mut order);
    let (mut heldout, mut train) = (order[..held].to_vec(), order[held..].to_vec());
    heldout.sort_unstable();
    train.sort_unstable();
    (train, heldout)
}

impl Dataset {
    /// The images at `indices` (and their labels), as a dataset of their own.
    pub fn subset(&self, indices: &[usize], what: &str) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.channels * self.size * self.size);
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            pixels,
            n: indices.len(),
            channels: self.channels,
            size: self.size,
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
            classes: self.classes,
            source: format!("{} ({what}: {} images)", self.source, indices.len()),
            warnings: Vec::new(),
        }
    }
}
