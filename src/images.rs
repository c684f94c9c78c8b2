//! Images out: a batch in [−1, 1] as a PNG grid like torchvision's `save_image`
//! (`nrow` images per row, `padding` pixels of black between and around them), or one PNG per
//! image. Written atomically.

use std::io::Cursor;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;

/// [−1, 1] → [0, 255], rounding as torchvision (x·255 + 0.5 after mapping to [0, 1]).
fn to_u8(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 0.5) * 255.0 + 0.5).floor() as u8
}

fn encode(img: image::RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| Error::bad_file(path, format!("PNG encoding failed: {e}")))?;
    atomic_write(path, &bytes)
}

/// Pixel (x, y) of image `i` of a planar [N, C, S, S] batch as RGB.
fn rgb(batch: &[f32], channels: usize, size: usize, i: usize, x: usize, y: usize) -> [u8; 3] {
    let at = |c: usize| to_u8(batch[((i * channels + c) * size + y) * size + x]);
    if channels == 1 { [at(0); 3] } else { [at(0), at(1), at(2)] }
}

/// Save `n` images of a [N, C, S, S] batch as a grid of `nrow` columns with `padding`.
pub fn save_grid(path: &Path, batch: &[f32], n: usize, channels: usize, size: usize, nrow: usize, padding: usize) -> Result<()> {
    let cols = nrow.min(n).max(1);
    let rows = n.div_ceil(cols);
    let (w, h) = (cols * (size + padding) + padding, rows * (size + padding) + padding);
    let mut img = image::RgbImage::new(w as u32, h as u32);
    for i in 0..n {
        let (gx, gy) = (padding + (i % cols) * (size + padding), padding + (i / cols) * (size + padding));
        for y in 0..size {
            for x in 0..size {
                img.put_pixel((gx + x) as u32, (gy + y) as u32, image::Rgb(rgb(batch, channels, size, i, x, y)));
            }
        }
    }
    encode(img, path)
}

/// Save each image of the batch as `dir/<prefix><first + index>.png`.
pub fn save_each(dir: &Path, prefix: &str, first: usize, batch: &[f32], n: usize, channels: usize, size: usize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for i in 0..n {
        let mut img = image::RgbImage::new(size as u32, size as u32);
        for y in 0..size {
            for x in 0..size {
                img.put_pixel(x as u32, y as u32, image::Rgb(rgb(batch, channels, size, i, x, y)));
            }
        }
        encode(img, &dir.join(format!("{prefix}{:04}.png", first + i)))?;
    }
    Ok(())
}
