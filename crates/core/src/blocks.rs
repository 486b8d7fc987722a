//! Splitting a batch of images into blocks of output rows under a size budget, for the CPU
//! convolutions: the im2col backward of `conv_flex` (one column matrix per block) and the
//! Winograd convolution of `winograd_flex` (one set of transformed tiles per block, its rows
//! being rows of 2x2 tiles).

/// A block of output pixels: images `n0..n1`, output rows `r0..r1` of each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Block {
    pub n0: usize,
    pub n1: usize,
    pub r0: usize,
    pub r1: usize,
}

impl Block {
    /// Output pixels of one image in the block.
    pub fn per_image(&self, wo: usize) -> usize {
        (self.r1 - self.r0) * wo
    }
}

/// Splits `n` images of `ho` output rows into blocks whose column matrix (`rows` unfolded
/// elements per output pixel) holds at most `budget` elements, or one output row when a row
/// alone is larger: several whole images per block when an image fits, else row ranges of one
/// image.
pub(crate) fn blocks(n: usize, ho: usize, wo: usize, rows: usize, budget: usize) -> Vec<Block> {
    let per_row = rows * wo;
    let per_image = per_row * ho;
    let mut out = Vec::new();
    if per_image <= budget {
        let step = (budget / per_image.max(1)).max(1);
        let mut n0 = 0;
        while n0 < n {
            let n1 = (n0 + step).min(n);
            out.push(Block {
                n0,
                n1,
                r0: 0,
                r1: ho,
            });
            n0 = n1;
        }
    } else {
        let step = (budget / per_row.max(1)).max(1);
        for image in 0..n {
            let mut r0 = 0;
            while r0 < ho {
                let r1 = (r0 + step).min(ho);
                out.push(Block {
                    n0: image,
                    n1: image + 1,
                    r0,
                    r1,
                });
                r0 = r1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks cover every image and output row exactly once and respect the budget.
    #[test]
    fn blocks_cover_the_output_once() {
        for (n, ho, wo, rows, budget) in [
            (1, 7, 5, 9, 1000),
            (5, 7, 5, 9, 700),
            (3, 7, 5, 9, 100),
            (2, 4, 4, 50, 10),
        ] {
            let mut seen = vec![0u32; n * ho];
            for b in blocks(n, ho, wo, rows, budget) {
                let size = (b.n1 - b.n0) * (b.r1 - b.r0) * wo * rows;
                assert!(size <= budget || b.r1 - b.r0 == 1, "{b:?} over budget");
                for image in b.n0..b.n1 {
                    for row in b.r0..b.r1 {
                        seen[image * ho + row] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "n {n} ho {ho}: {seen:?}");
        }
    }
}
