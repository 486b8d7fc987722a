//! The ground truth of one image of a training batch, in the batch's (resized) pixels: what the
//! RPN and the ROI heads are trained against. The model's training transform makes it from the
//! user's targets.

use crate::BoxXyxy;

/// A target resized with its image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResizedTarget {
    /// `[x1, y1, x2, y2]` per object.
    pub boxes: Vec<BoxXyxy>,
    /// Class of each object, `1..num_classes` (0 is the background).
    pub labels: Vec<usize>,
    /// Each `height x width` (the resized image), values 0/1.
    pub masks: Vec<Vec<u8>>,
    pub height: usize,
    pub width: usize,
}
