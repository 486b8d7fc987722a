//! What an image file is before it is decoded: its stored size, its EXIF orientation tag and the
//! pixel layout it is converted from (the model takes 8-bit RGB), so that `dataset stats` can
//! name every photo that is rotated or converted, and readers without a declared size (VIA) can
//! size their masks without decoding.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader};

/// Header facts of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Stored width and height (before any EXIF orientation).
    pub width: u32,
    pub height: u32,
    /// EXIF orientation tag, 1 (or no tag) = as stored; 5..=8 swap width and height.
    pub orientation: u8,
    /// The stored pixel layout when it is not 8-bit RGB ("16-bit grayscale", "palette",
    /// "CMYK", ...), which decoding converts to RGB.
    pub converted_from: Option<&'static str>,
}

impl ImageInfo {
    /// The size the model sees under the EXIF policy.
    pub fn size(&self, apply_exif: bool) -> (u32, u32) {
        if apply_exif && (5..=8).contains(&self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, image::ImageError> {
    reader_hinted(bytes, None)
}

/// A reader of `bytes` in the format their signature shows, else in `hint` (a file's
/// extension), so that a damaged `.png` is reported by the PNG decoder ("invalid PNG
/// signature") rather than as an unknown format.
fn reader_hinted(
    bytes: &[u8],
    hint: Option<image::ImageFormat>,
) -> Result<ImageReader<Cursor<&[u8]>>, image::ImageError> {
    let mut r = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    if r.format().is_none()
        && let Some(h) = hint
    {
        r.set_format(h);
    }
    Ok(r)
}

/// Reads the header of an encoded PNG or JPEG.
pub fn image_info(bytes: &[u8]) -> Result<ImageInfo, image::ImageError> {
    let mut dec = reader(bytes)?.into_decoder()?;
    let (width, height) = dec.dimensions();
    // A damaged EXIF block is not a damaged image: it counts as no tag.
    let orientation = dec.orientation().map_or(1, |o| o.to_exif());
    Ok(ImageInfo {
        width,
        height,
        orientation,
        converted_from: layout(bytes),
    })
}

/// How much of a file [`image_info_file`] reads first: a PNG's header chunks and a JPEG's
/// markers up to its frame header (the EXIF block included, at most 64 KiB) fit many times over.
const HEADER_PREFIX: u64 = 256 << 10;

/// [`image_info`] of an image file, reading only its first 256 KiB when the header is there
/// (reading every photo whole to learn its size would read a dataset twice), else the whole file.
pub fn image_info_file(
    path: &std::path::Path,
) -> std::io::Result<Result<ImageInfo, image::ImageError>> {
    use std::io::Read;
    let mut prefix = Vec::new();
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.take(HEADER_PREFIX).read_to_end(&mut prefix)?;
    match image_info(&prefix) {
        Ok(i) => Ok(Ok(i)),
        Err(_) if len > HEADER_PREFIX => Ok(image_info(&std::fs::read(path)?)),
        Err(e) => Ok(Err(e)),
    }
}

/// Decodes to 8-bit RGB, applying the EXIF orientation when `apply_exif` (alpha is dropped,
/// gray/palette/CMYK/16-bit converted, as `image` converts them).
pub fn decode_rgb(bytes: &[u8], apply_exif: bool) -> Result<image::RgbImage, image::ImageError> {
    decode_hinted(bytes, apply_exif, None)
}

/// [`decode_rgb`] of an image file (its extension names the format when the bytes do not).
pub fn decode_rgb_file(
    path: &std::path::Path,
    apply_exif: bool,
) -> Result<image::RgbImage, image::ImageError> {
    let bytes = std::fs::read(path)?;
    decode_hinted(&bytes, apply_exif, image::ImageFormat::from_path(path).ok())
}

fn decode_hinted(
    bytes: &[u8],
    apply_exif: bool,
    hint: Option<image::ImageFormat>,
) -> Result<image::RgbImage, image::ImageError> {
    let mut dec = reader_hinted(bytes, hint)?.into_decoder()?;
    // `ImageReader::decode` checks the pixel buffer against the default memory limit before
    // allocating it; `into_decoder` does not, so the check is made here (an image bomb is
    // refused by its header, not by running out of memory).
    image::Limits::default().reserve(dec.total_bytes())?;
    let orientation = if apply_exif {
        dec.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let mut img = DynamicImage::from_decoder(dec)?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

/// The stored layout of a PNG (IHDR bit depth and colour type) or JPEG (component count of the
/// frame header), when it is not 8-bit RGB. `image` reports the layout it decodes *to* (a CMYK
/// JPEG decodes as RGB, a palette PNG as RGB), not the one stored, so the two headers are read
/// here; both are fixed-offset or marker-walk formats of a few lines.
fn layout(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 26 && &bytes[12..16] == b"IHDR" {
        let (depth, colour) = (bytes[24], bytes[25]);
        return match (colour, depth) {
            (2, 8) => None,
            (0, 16) => Some("16-bit grayscale"),
            (0, _) => Some("grayscale"),
            (2, _) => Some("16-bit RGB"),
            (3, _) => Some("palette"),
            (4, _) => Some("grayscale with alpha"),
            (6, 8) => Some("RGBA"),
            (6, _) => Some("16-bit RGBA"),
            _ => Some("unusual PNG layout"),
        };
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 4 <= bytes.len() {
            if bytes[i] != 0xFF {
                return None;
            }
            let marker = bytes[i + 1];
            if marker == 0xFF {
                i += 1;
                continue;
            }
            let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
            let is_sof = (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
            if is_sof {
                return match bytes.get(i + 9) {
                    Some(1) => Some("grayscale"),
                    Some(4) => Some("CMYK"),
                    _ => None,
                };
            }
            i += 2 + len;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut v = Vec::new();
        img.write_to(&mut Cursor::new(&mut v), image::ImageFormat::Png)
            .unwrap();
        v
    }

    #[test]
    fn png_layouts_are_named() {
        let rgb = png(DynamicImage::new_rgb8(3, 2));
        let i = image_info(&rgb).unwrap();
        assert_eq!(
            (i.width, i.height, i.orientation, i.converted_from),
            (3, 2, 1, None)
        );
        assert_eq!(
            image_info(&png(DynamicImage::new_luma16(3, 2)))
                .unwrap()
                .converted_from,
            Some("16-bit grayscale")
        );
        assert_eq!(
            image_info(&png(DynamicImage::new_rgba8(3, 2)))
                .unwrap()
                .converted_from,
            Some("RGBA")
        );
    }

    #[test]
    fn a_large_file_is_sized_from_its_first_bytes() {
        // Noise does not compress: a PNG and a JPEG of a few megabytes.
        let mut state = 1u32;
        let img = image::RgbImage::from_fn(1200, 900, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb([(state >> 24) as u8, (state >> 16) as u8, (state >> 8) as u8])
        });
        let dir = tempfile::tempdir().unwrap();
        for name in ["big.png", "big.jpg"] {
            let p = dir.path().join(name);
            img.save(&p).unwrap();
            assert!(
                std::fs::metadata(&p).unwrap().len() > HEADER_PREFIX,
                "{name}"
            );
            let i = image_info_file(&p).unwrap().unwrap();
            assert_eq!(
                (i.width, i.height, i.converted_from),
                (1200, 900, None),
                "{name}"
            );
        }
    }

    #[test]
    fn jpeg_gray_is_named_and_exif_swaps_only_when_applied() {
        let mut v = Vec::new();
        DynamicImage::new_luma8(4, 2)
            .write_to(&mut Cursor::new(&mut v), image::ImageFormat::Jpeg)
            .unwrap();
        let i = image_info(&v).unwrap();
        assert_eq!(i.converted_from, Some("grayscale"));
        let rotated = ImageInfo {
            orientation: 6,
            ..i
        };
        assert_eq!(rotated.size(true), (2, 4));
        assert_eq!(rotated.size(false), (4, 2));
    }
}
