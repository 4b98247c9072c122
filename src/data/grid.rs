//! Image grids: generated or real digits tiled into one picture, as RGB bytes for
//! TensorBoard and as PNG files on disk.

use crate::data::IMAGE_SIDE;
use std::path::Path;

/// Pixels of padding between tiles (and around the grid).
const PAD: usize = 2;

/// An RGB picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes, row-major RGB.
    pub rgb: Vec<u8>,
}

/// Tiles `images` (each 28 x 28, values in `range`) row by row into `cols` columns,
/// clamping to the range and scaling to 0-255 grey.
pub fn tile(images: &[f32], cols: usize, (low, high): (f32, f32)) -> Grid {
    let px = IMAGE_SIDE * IMAGE_SIDE;
    let n = images.len() / px;
    let rows = n.div_ceil(cols.max(1));
    let cols = cols.max(1);
    let width = cols * (IMAGE_SIDE + PAD) + PAD;
    let height = rows * (IMAGE_SIDE + PAD) + PAD;
    let mut rgb = vec![0u8; width * height * 3];
    for (i, img) in images.chunks_exact(px).enumerate() {
        let (r, c) = (i / cols, i % cols);
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                let v = ((img[y * IMAGE_SIDE + x] - low) / (high - low)).clamp(0.0, 1.0);
                let byte = (v * 255.0).round() as u8;
                let (gy, gx) = (PAD + r * (IMAGE_SIDE + PAD) + y, PAD + c * (IMAGE_SIDE + PAD) + x);
                rgb[(gy * width + gx) * 3..][..3].fill(byte);
            }
        }
    }
    Grid { width, height, rgb }
}

impl Grid {
    /// Encodes the grid as an 8-bit RGB PNG.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::RGB);
            enc.set_depth(png::BitDepth::Eight);
            // Writing into a Vec only fails on a size mismatch, which `tile` rules out.
            if let Ok(mut w) = enc.write_header() {
                let _ = w.write_image_data(&self.rgb);
            }
        }
        out
    }

    /// Writes the grid as a PNG file (via a temporary file and a rename).
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("png.part");
        std::fs::write(&tmp, self.to_png())?;
        std::fs::rename(tmp, path)
    }
}
