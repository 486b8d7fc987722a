//! TensorFlow checkpoints (the TensorFlow Object Detection API's `model.ckpt`), read without
//! TensorFlow: [`table`] is the sorted-table format of the `.index` file, [`bundle`] the
//! TensorBundle on top of it (tensor entries pointing into `.data-NNNNN-of-NNNNN` shards),
//! and [`graph`] the constants of a frozen `GraphDef` (`frozen_inference_graph.pb`). The OD
//! API's `pipeline.config` is protobuf text format, parsed by `mrcnn_config::text_format`.
//! [`slim`] maps the TF-slim ResNet variable names onto torchvision's.

pub mod bundle;
pub mod graph;
pub mod od_api;
pub mod slim;
pub mod table;

pub use bundle::{BundleTensor, TfDtype, read_bundle};
pub use graph::read_frozen_graph;

/// Whether `stored`, a checksum as TensorFlow writes it (CRC-32C, masked as
/// `crc32c::Mask`: rotated right by 15 bits plus a constant), is the one of `data`.
pub(crate) fn masked_crc_matches(data: &[u8], stored: u32) -> bool {
    let crc = crc32c::crc32c(data);
    stored == (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}
