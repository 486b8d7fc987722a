//! mrcnn-mask-head
