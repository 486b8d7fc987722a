//! mrcnn-data: instance-segmentation datasets for the Mask R-CNN trainer.
//!
//! * [`model`]: the common in-memory [`Dataset`] (categories with contiguous
//!   labels, images, instances with RLE masks).
//! * Readers/writers: [`coco`] (instances JSON), [`mask_folder`] (binary
//!   instance PNGs or label PNGs), [`tfrecord`] (TF Object Detection API
//!   schema, sharded, CRC-checked), [`labelmap`] (pbtxt and TOML), and the annotation
//!   tools' formats in [`annotations`] (labelme, VIA 2/3, CVAT XML, Pascal VOC masks).
//! * [`image_info`]: header facts (size, EXIF orientation, stored pixel layout) and decoding
//!   under the EXIF policy.
//! * Commands the CLI exposes as-is: [`convert()`] (`mrcnn convert`), [`stats()`]
//!   (`mrcnn dataset stats`), [`synth()`] (`mrcnn synth`).
//! * [`sample`] decodes an image and its masks; [`transforms`] applies the
//!   seeded training augmentations.
//! * [`loader`] batches samples: worker threads, prefetch, per-epoch seeded
//!   shuffling, resumable at any iteration.
//! * [`input`]: read any format into named splits ([`InputOptions`]).
//!
//! The option types shared with experiment TOMLs ([`DatasetFormat`], [`OnBadSample`],
//! [`MaskFolderSection`], [`SynthSection`]) are `mrcnn-config`'s.
//! * [`error`]: [`DataError`], the [`OnBadSample`] policy and the [`Report`].

pub mod annotations;
pub mod coco;
pub mod convert;
pub mod error;
pub mod image_info;
pub mod input;
pub mod labelmap;
pub mod loader;
pub mod mask_folder;
pub mod model;
pub mod sample;
pub mod stats;
pub mod synth;
pub mod tfrecord;
pub mod transforms;

pub use convert::{ConvertOptions, convert};
pub use error::{DataError, OnBadSample, Problem, ProblemKind, ProblemLog, Report, Skipped};
pub use input::{InputOptions, Split, read_input};
pub use loader::{Batch, BatchStream, Loader, LoaderConfig};
pub use model::{Category, Dataset, ImageRecord, ImageSource, Instance};
pub use mrcnn_coco::Rle;
pub use mrcnn_config::{ClassRule, DatasetFormat, ExifPolicy, MaskFolderSection, SynthSection};
pub use sample::{Sample, load_sample};
pub use stats::{DatasetStats, StatsOptions, dataset_stats, stats};
pub use synth::synth;
pub use transforms::{TransformConfig, Transforms};
