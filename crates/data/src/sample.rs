//! Decoding one image and its instance masks into training tensors' raw form.

use image::{GrayImage, RgbImage};

use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};
use crate::model::{Dataset, ImageRecord, ImageSource};

/// A decoded image with per-instance targets (crowd instances included,
/// flagged, so the caller decides: torchvision's reference drops them).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub image_id: u64,
    pub image: RgbImage,
    /// xyxy pixels.
    pub boxes: Vec<[f32; 4]>,
    /// Contiguous labels 1..=K.
    pub labels: Vec<u32>,
    /// Binary masks (0/1), image-sized.
    pub masks: Vec<GrayImage>,
    pub iscrowd: Vec<bool>,
}

/// Decode `rec`. Errors name the file (or record) so the caller can apply its
/// [`crate::OnBadSample`] policy.
pub fn load_sample(rec: &ImageRecord) -> Result<Sample, Problem> {
    let name = match &rec.source {
        ImageSource::File(p) => p.clone(),
        ImageSource::Encoded { origin, .. } => format!("{origin} ({})", rec.file_name).into(),
    };
    let bytes = match &rec.source {
        ImageSource::File(p) => std::fs::read(p).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ProblemKind::MissingFile
            } else {
                ProblemKind::CorruptImage
            };
            Problem::new(kind, p, e.to_string())
        })?,
        ImageSource::Encoded { bytes, .. } => bytes.clone(),
    };
    let image = crate::image_info::decode_rgb(&bytes, rec.apply_exif)
        .map_err(|e| Problem::new(ProblemKind::CorruptImage, &name, decode_error(&bytes, e)))?;
    if image.dimensions() != (rec.width, rec.height) {
        let exif = if rec.apply_exif {
            " (after its EXIF orientation)"
        } else {
            ""
        };
        let d = format!(
            "decoded image is {}x{}{exif} but the annotation says {}x{}",
            image.width(),
            image.height(),
            rec.width,
            rec.height
        );
        return Err(Problem::new(ProblemKind::MaskSizeMismatch, &name, d));
    }
    let mut s = Sample {
        image_id: rec.id,
        image,
        boxes: Vec::new(),
        labels: Vec::new(),
        masks: Vec::new(),
        iscrowd: Vec::new(),
    };
    for (i, a) in rec.annotations.iter().enumerate() {
        if (a.mask.h, a.mask.w) != (rec.height, rec.width) {
            let d = format!(
                "mask is {}x{}, image {}x{}",
                a.mask.w, a.mask.h, rec.width, rec.height
            );
            return Err(Problem::new(ProblemKind::MaskSizeMismatch, &name, d).annotation(i));
        }
        let m = a.mask.decode();
        // decode() is row-major h*w, which is GrayImage's layout.
        let Some(mask) = GrayImage::from_raw(rec.width, rec.height, m) else {
            return Err(Problem::new(
                ProblemKind::BadRle,
                &name,
                "mask decodes to the wrong length",
            )
            .annotation(i));
        };
        s.boxes.push(a.bbox);
        s.labels.push(a.category);
        s.masks.push(mask);
        s.iscrowd.push(a.iscrowd);
    }
    Ok(s)
}

/// Why an image did not decode; a decoder memory limit also says the size its header claims
/// (an image bomb: a few bytes that would decode to gigabytes).
fn decode_error(bytes: &[u8], e: image::ImageError) -> String {
    if !matches!(e, image::ImageError::Limits(_)) {
        return e.to_string();
    }
    let dims = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    match dims {
        Some((w, h)) => format!(
            "its header says {w}x{h} pixels, more than the decoder's memory limit allows ({e}); \
             an image bomb or a damaged header"
        ),
        None => e.to_string(),
    }
}

/// Decodes every image of `ds` (and its masks); one that does not decode, or whose size is not
/// the one its annotation states, is a bad sample under `log`'s policy (removed under skip).
pub fn keep_decodable(ds: &mut Dataset, log: &mut ProblemLog) -> Result<(), DataError> {
    let images = std::mem::take(&mut ds.images);
    for img in images {
        match load_sample(&img) {
            Ok(_) => ds.images.push(img),
            // The problem names the image file, or the record file and index it came from.
            Err(p) => log.bad(p, Skipped::Image)?,
        }
    }
    Ok(())
}
