//! [`MaskCrop`]: a binary mask stored only inside a rectangle of its image. A detection's mask
//! covers its box and nothing else, so this is what a prediction keeps instead of a full-image
//! bitmap; [`MaskCrop::to_rle`] gives the COCO RLE of the whole image without building one.

use crate::rle::Rle;

/// Binary mask of an `image_h x image_w` image that is zero outside the rectangle
/// `[x, x + width) x [y, y + height)` (which lies inside the image).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskCrop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Row-major `width * height`, non-zero = foreground.
    pub data: Vec<u8>,
}

impl MaskCrop {
    /// Whether image pixel (x, y) is foreground.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x >= self.x
            && y >= self.y
            && x < self.x + self.width
            && y < self.y + self.height
            && self.data[((y - self.y) * self.width + (x - self.x)) as usize] != 0
    }

    /// Foreground pixels.
    pub fn area(&self) -> u64 {
        self.data.iter().filter(|&&v| v != 0).count() as u64
    }

    /// The full row-major `image_h * image_w` mask (0/1).
    pub fn to_full(&self, image_h: u32, image_w: u32) -> Vec<u8> {
        let mut out = vec![0u8; image_h as usize * image_w as usize];
        for r in 0..self.height as usize {
            let row = &self.data[r * self.width as usize..(r + 1) * self.width as usize];
            let start = (self.y as usize + r) * image_w as usize + self.x as usize;
            for (o, &v) in out[start..start + row.len()].iter_mut().zip(row) {
                *o = u8::from(v != 0);
            }
        }
        out
    }

    /// The COCO RLE of the whole image, equal to `Rle::encode(&self.to_full(h, w), h, w)`.
    pub fn to_rle(&self, image_h: u32, image_w: u32) -> Rle {
        let mut runs = Runs::default();
        for x in 0..image_w {
            if x < self.x || x >= self.x + self.width {
                runs.push(false, image_h);
                continue;
            }
            runs.push(false, self.y);
            for y in 0..self.height {
                let v = self.data[(y * self.width + x - self.x) as usize] != 0;
                runs.push(v, 1);
            }
            runs.push(false, image_h - self.y - self.height);
        }
        runs.counts.push(runs.run);
        Rle {
            h: image_h,
            w: image_w,
            counts: runs.counts,
        }
    }
}

/// Run lengths in COCO order (the first run counts zeros).
#[derive(Default)]
struct Runs {
    counts: Vec<u32>,
    value: bool,
    run: u32,
}

impl Runs {
    fn push(&mut self, v: bool, n: u32) {
        if n == 0 {
            return;
        }
        if v != self.value {
            self.counts.push(self.run);
            self.value = v;
            self.run = 0;
        }
        self.run += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_equals_encoding_the_full_mask() {
        let (h, w) = (7u32, 9u32);
        let mut seed = 1u32;
        for (x, y, cw, ch) in [
            (0, 0, 9, 7),
            (2, 1, 3, 4),
            (8, 6, 1, 1),
            (0, 3, 4, 0),
            (5, 0, 4, 7),
        ] {
            let data: Vec<u8> = (0..cw * ch)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    u8::from(seed >> 16 & 1 == 1)
                })
                .collect();
            let c = MaskCrop {
                x,
                y,
                width: cw,
                height: ch,
                data,
            };
            let full = c.to_full(h, w);
            assert_eq!(
                c.to_rle(h, w),
                Rle::encode(&full, h, w),
                "{x},{y} {cw}x{ch}"
            );
            assert_eq!(c.area(), full.iter().map(|&v| v as u64).sum::<u64>());
            assert!((0..h).all(|yy| (0..w).all(|xx| c.get(xx, yy) == (full[(yy * w + xx) as usize] == 1))));
        }
        assert_eq!(MaskCrop::default().to_rle(3, 2), Rle::encode(&[0; 6], 3, 2));
    }
}
