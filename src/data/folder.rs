//! Every PNG/JPEG under a directory (recursively, in sorted order), resized so the shorter
//! side is the model's size and centre-cropped.
//!
//! Classes as torchvision's `ImageFolder`: when every image lies in a sub-directory of the
//! top directory (none directly in it), each top-level sub-directory is a class, numbered in
//! sorted order of the names (its own sub-directories belong to it). Otherwise the images are
//! unlabelled.
//!
//! The walk follows symbolic links but reads each directory once (a link back to a parent
//! would otherwise repeat the dataset, or never end), and skips what is not a regular file
//! (a FIFO named `x.png` would block the reader forever). A truncated image — one that
//! decodes but lacks its end marker, as a killed download leaves it — is skipped with a
//! warning, or refused with `strict`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{convert_channels, resize_center_crop, Dataset};
use crate::error::{Error, Result};

/// Images smaller than this on either side are refused: upscaling them 8× or more produces
/// blur, not training data.
pub const MIN_SIDE: u32 = 8;

fn is_image_name(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Image files under `dir`, each directory read once (by its canonical path).
fn collect(dir: &Path, out: &mut Vec<PathBuf>, visited: &mut HashSet<PathBuf>, warnings: &mut Vec<String>) -> Result<()> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !visited.insert(canonical.clone()) {
        warnings.push(format!("{}: skipped, a link to {} which is already read", dir.display(), canonical.display()));
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = entries.map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e))).collect::<Result<Vec<_>>>()?;
    paths.sort();
    for p in paths {
        // metadata() follows links: a link to a file is that file, a link to a directory is walked.
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                if is_image_name(&p) {
                    warnings.push(format!("{}: skipped ({e})", p.display()));
                }
                continue;
            }
        };
        if meta.is_dir() {
            collect(&p, out, visited, warnings)?;
        } else if is_image_name(&p) {
            if meta.is_file() {
                out.push(p);
            } else {
                warnings.push(format!("{}: skipped, not a regular file (a FIFO, socket or device)", p.display()));
            }
        }
    }
    Ok(())
}

/// Why `bytes` (a PNG or JPEG by its contents) looks cut short, if it does: a PNG ends with
/// its IEND chunk, a JPEG with the EOI marker FF D9 (trailing padding zeros allowed).
pub fn truncation(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The IEND chunk: length 0, "IEND", CRC AE 42 60 82.
        let iend = b"\x00\x00\x00\x00IEND\xae\x42\x60\x82";
        return (!bytes.windows(iend.len()).rev().take(64).any(|w| w == iend)).then_some("truncated: the PNG has no IEND chunk");
    }
    if bytes.starts_with(&[0xff, 0xd8]) {
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        return (!bytes[..end].ends_with(&[0xff, 0xd9])).then_some("truncated: the JPEG has no end-of-image marker");
    }
    None
}

/// The PNG/JPEG files under `dir` in the order `load` reads them (recursively, sorted), and
/// warnings about what was skipped.
pub fn list(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut files, mut warnings) = (Vec::new(), Vec::new());
    collect(dir, &mut files, &mut HashSet::new(), &mut warnings)?;
    Ok((files, warnings))
}

/// One image file's bytes as `channels` planes of size×size u8 (the shorter side resized to
/// `size`, centre-cropped), or a one-line error naming the file.
pub fn decode(f: &Path, bytes: &[u8], size: usize, channels: usize) -> Result<Vec<u8>> {
    let img = image::load_from_memory(bytes).map_err(|e| Error::bad_file(f, format!("cannot decode the image ({e}); remove it or fix it")))?;
    let (w, h) = (img.width(), img.height());
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(Error::bad_file(f, format!("{w}x{h} is too small (at least {MIN_SIDE}x{MIN_SIDE}) for {size}x{size} images")));
    }
    let rgb = img.to_rgb8();
    let (w, h) = (w as usize, h as usize);
    let mut planes = vec![0u8; 3 * w * h];
    for (i, p) in rgb.pixels().enumerate() {
        planes[i] = p[0];
        planes[w * h + i] = p[1];
        planes[2 * w * h + i] = p[2];
    }
    let fitted = resize_center_crop(&planes, 3, h, w, size);
    Ok(convert_channels(&fitted, 3, channels, size * size))
}

/// Load every image under `path`. `strict`: a truncated image is an error instead of a
/// warning. Warnings go into `Dataset::warnings`.
pub fn load(path: &Path, size: usize, channels: usize, limit: Option<usize>, strict: bool) -> Result<Dataset> {
    if !path.is_dir() {
        return Err(Error::bad_file(path, "is not a directory; --dataset folder needs --data DIR with PNG/JPEG images"));
    }
    let (files, mut warnings) = list(path)?;
    if files.is_empty() {
        return Err(Error::bad_file(path, "contains no .png, .jpg or .jpeg files (searched recursively)"));
    }
    // ImageFolder classes: the first path component under `path` of each image.
    let top = |f: &Path| -> Option<String> {
        let rel = f.strip_prefix(path).ok()?;
        (rel.components().count() > 1).then(|| rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()))?
    };
    let mut class_names: Vec<String> = files.iter().filter_map(|f| top(f)).collect();
    class_names.dedup(); // sorted walk: each class's files are contiguous
    let labelled = files.iter().all(|f| top(f).is_some()) && (2..=256).contains(&class_names.len());
    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    let mut used = 0;
    for f in &files {
        if limit.is_some_and(|l| used >= l) {
            break;
        }
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        if let Some(why) = truncation(&bytes) {
            if strict {
                return Err(Error::bad_file(f, format!("{why}; remove or replace it (or drop --strict to skip it with a warning)")));
            }
            warnings.push(format!("{}: skipped, {why} (--strict makes this an error)", f.display()));
            continue;
        }
        pixels.extend(decode(f, &bytes, size, channels)?);
        if labelled {
            let name = top(f).expect("every image is in a class directory");
            labels.push(class_names.iter().position(|c| *c == name).expect("collected above") as u8);
        }
        used += 1;
    }
    if used == 0 {
        return Err(Error::bad_file(path, format!("every image in it was skipped ({} of them; the first: {})", warnings.len(), warnings.first().map_or("", String::as_str))));
    }
    if labelled {
        let shown = if class_names.len() <= 12 { class_names.join(", ") } else { format!("{}, …", class_names[..12].join(", ")) };
        let source = format!("folder {} ({used} images in {} classes: {shown})", path.display(), class_names.len());
        return Ok(Dataset { n: used, pixels, channels, size, labels: Some(labels), classes: class_names.len(), source, warnings });
    }
    Ok(Dataset { n: used, pixels, channels, size, labels: None, classes: 0, source: format!("folder {} ({used} images)", path.display()), warnings })
}
