//! mrcnn-draw: the pictures of mrcnn, drawn with `image` and an 8x8 bitmap font so that nothing
//! is needed from the system (no fonts): precision-recall curves of a COCO evaluation, the
//! training chart, line charts, and prediction overlays.
//!
//! * [`draw`]: pixel primitives; [`font`]: text.
//! * [`plot`]: panels of line series, grids of panels, PNG output.
//! * [`pr_curves`]: one panel per category from an evaluation's precision arrays.
//! * [`training_chart`]: losses, learning rate and AP from the trainer's metrics records.
//! * [`overlay()`]: masks, boxes and captions over an image.
//! * [`sheet`]: contact sheets of images and bar charts (`mrcnn dataset show`).

pub mod draw;
pub mod font;
pub mod overlay;
pub mod plot;
mod png;
pub mod pr_curves;
pub mod sheet;
pub mod training_chart;

pub use overlay::{OverlayItem, overlay};
pub use png::{DrawError, write_png};
pub use sheet::{bar_chart, contact_sheet, fit};
