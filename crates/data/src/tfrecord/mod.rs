//! TFRecord files in the TensorFlow Object Detection API's schema.
//!
//! Per image one `tf.train.Example` with: `image/encoded`, `image/format`,
//! `image/height`, `image/width`, `image/filename`, `image/source_id`,
//! `image/object/bbox/{xmin,xmax,ymin,ymax}` (normalised to [0, 1]),
//! `image/object/class/{text,label}`, `image/object/mask` (one PNG per
//! instance, pixel values 0/1, as `create_coco_tf_record.py` writes; a dense
//! float list of n·h·w values is accepted too), and optionally
//! `image/object/is_crowd` and `image/object/area`.
//! Images stay encoded in memory ([`crate::ImageSource::Encoded`]).

mod framing;
mod proto;
mod schema;
mod shards;

pub use framing::{FrameError, Records, masked_crc32c, write_record};
pub use proto::{Example, Feature, decode_example, encode_example};
pub use schema::{example_of, read_tfrecords, write_tfrecords};
pub use shards::{expand_input, shard_paths, split_name};
