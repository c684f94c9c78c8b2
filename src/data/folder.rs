//! Every PNG/JPEG under a directory (recursively, in sorted order), resized so the shorter
//! side is the model's size and centre-cropped.

use std::path::{Path, PathBuf};

use super::{convert_channels, resize_center_crop, Dataset};
use crate::error::{Error, Result};

/// Images smaller than this on either side are refused: upscaling them 8× or more produces
/// blur, not training data.
pub const MIN_SIDE: u32 = 8;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if let Some(ext) = p.extension().and_then(|e| e.to_str())
            && matches!(ext.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
        {
            out.push(p);
        }
    }
    Ok(())
}

pub fn load(path: &Path, size: usize, channels: usize, limit: Option<usize>) -> Result<Dataset> {
    if !path.is_dir() {
        return Err(Error::bad_file(path, "is not a directory; --dataset folder needs --data DIR with PNG/JPEG images"));
    }
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(Error::bad_file(path, "contains no .png, .jpg or .jpeg files (searched recursively)"));
    }
    if let Some(l) = limit {
        files.truncate(l);
    }
    let mut pixels = Vec::with_capacity(files.len() * channels * size * size);
    for f in &files {
        let img = image::open(f).map_err(|e| Error::bad_file(f, format!("cannot decode the image ({e}); remove it or fix it")))?;
        let (w, h) = (img.width(), img.height());
        if w < MIN_SIDE || h < MIN_SIDE {
            return Err(Error::bad_file(f, format!("{w}x{h} is too small (at least {MIN_SIDE}x{MIN_SIDE}) for {size}x{size} training images")));
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
        pixels.extend(convert_channels(&fitted, 3, channels, size * size));
    }
    Ok(Dataset { n: files.len(), pixels, channels, size, labels: None, source: format!("folder {} ({} images)", path.display(), files.len()) })
}
