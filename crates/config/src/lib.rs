//! mrcnn-config: experiment TOMLs (work in progress).
