//! mrcnn-core
