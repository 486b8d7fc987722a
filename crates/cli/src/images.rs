//! Reading input images (any format the `image` crate decodes).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"];

/// The image files of `input`: the file itself, or a directory's images sorted by name.
pub fn list_images(input: &Path) -> Result<Vec<PathBuf>> {
    if input.is_file() {
        return Ok(vec![input.to_path_buf()]);
    }
    if !input.is_dir() {
        bail!("input {}: no such file or directory", input.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("cannot list {}", input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "input {}: the directory holds no images ({})",
            input.display(),
            EXTENSIONS.join(", ")
        );
    }
    Ok(files)
}

/// Decodes an image as RGB 8-bit, rotated by its EXIF orientation when `apply_exif`.
pub fn load_rgb(path: &Path, apply_exif: bool) -> Result<image::RgbImage> {
    if !path.is_file() {
        bail!("cannot open image {}: no such file", path.display());
    }
    mrcnn_data::image_info::decode_rgb_file(path, apply_exif)
        .with_context(|| format!("cannot decode image {}", path.display()))
}
