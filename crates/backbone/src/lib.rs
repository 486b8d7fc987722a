//! mrcnn-backbone
