//! mrcnn-eval
