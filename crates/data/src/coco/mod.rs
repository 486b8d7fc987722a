//! COCO instances JSON.
//!
//! Layout used by this project (what `mrcnn synth` and `mrcnn convert --to coco`
//! write, and the default for reading): `<dir>/<split>.json` with images under
//! `<dir>/images/<file_name>`. Any other image root can be given when reading.

mod read;
mod write;

pub use read::{read_coco, read_coco_str};
pub use write::{to_instances, write_coco};
