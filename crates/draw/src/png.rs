//! Writing PNG files atomically (through `mrcnn_coco::files`), failures as [`DrawError`].

use std::path::Path;

use image::RgbImage;
use thiserror::Error;

/// A picture could not be written.
#[derive(Debug, Error)]
pub enum DrawError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode PNG {path}: {source}")]
    Png {
        path: String,
        #[source]
        source: image::ImageError,
    },
}

/// Encodes `img` as PNG and writes it atomically, creating the parent folders.
pub fn write_png(path: &Path, img: &RgbImage) -> Result<(), DrawError> {
    let mut buf = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .map_err(|source| DrawError::Png {
            path: path.display().to_string(),
            source,
        })?;
    mrcnn_coco::files::write_atomic(path, &buf).map_err(|source| DrawError::Write {
        path: path.display().to_string(),
        source,
    })
}
