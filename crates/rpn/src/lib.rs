//! mrcnn-rpn
