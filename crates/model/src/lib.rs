//! mrcnn-model
