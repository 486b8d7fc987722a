//! The mask branch: four 3x3 convs (`MaskRCNNHeads`), a 2x2 transposed conv and a 1x1 predictor
//! (`MaskRCNNPredictor`), and the pasting of each 28x28 mask into the image
//! (`paste_masks_in_image`); and the TensorFlow Object Detection API's C4 variant of each:
//! features upsampled before the convs, a 3x3 predictor, masks reframed into the image.

pub mod head;
pub mod loss;
pub mod paste;
pub mod reframe;

pub use head::{MaskHead, MaskPredictor, class_mask_probs};
pub use paste::{PastedMask, paste_mask_region, paste_masks_in_image};
pub use reframe::reframe_mask_region;
