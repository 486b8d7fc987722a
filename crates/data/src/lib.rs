//! mrcnn-data
