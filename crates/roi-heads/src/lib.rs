//! mrcnn-roi-heads
