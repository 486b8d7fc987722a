//! The in-memory dataset every reader produces and every writer consumes.
//!
//! Class ids in files are arbitrary (COCO ids have gaps, label maps start
//! anywhere); the model needs contiguous labels. A [`Dataset`] keeps its
//! [`Category`] list sorted by original id, and an instance's `category` is the
//! 1-based position in that list (0 is background), so the original id and the
//! name are always one lookup away and writers can restore them.

use std::path::PathBuf;

use mrcnn_coco::Rle;

use crate::error::DataError;

/// One class: the id it has in the source files and its name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    pub id: u32,
    pub name: String,
}

/// Where an image's pixels are.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageSource {
    /// A file on disk (COCO, mask folders).
    File(PathBuf),
    /// Encoded bytes carried with the record (TFRecord); `format` is e.g. "png", "jpeg";
    /// `origin` says where they came from, for messages (`train.tfrecord record 17`).
    Encoded {
        bytes: Vec<u8>,
        format: String,
        origin: String,
    },
}

impl ImageSource {
    /// The encoded image bytes.
    pub fn read_bytes(&self) -> Result<Vec<u8>, DataError> {
        match self {
            ImageSource::File(p) => std::fs::read(p).map_err(|e| DataError::io(p, e)),
            ImageSource::Encoded { bytes, .. } => Ok(bytes.clone()),
        }
    }

    /// A short name for messages.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::File(p) => p.display().to_string(),
            ImageSource::Encoded {
                format,
                bytes,
                origin,
            } => format!("{origin} (embedded {format}, {} bytes)", bytes.len()),
        }
    }
}

/// One object instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Contiguous label 1..=K (index into `Dataset::categories` plus one).
    pub category: u32,
    /// `[x0, y0, x1, y1]` in pixels, x1/y1 exclusive (COCO `x+w`, `y+h`).
    pub bbox: [f32; 4],
    /// Full-image binary mask.
    pub mask: Rle,
    pub iscrowd: bool,
    /// COCO area: as given by the source, else the mask's pixel count.
    pub area: f32,
}

impl Instance {
    /// An instance whose box and area come from its mask.
    pub fn from_mask(category: u32, mask: Rle, iscrowd: bool) -> Instance {
        let area = mask.area() as f32;
        Instance {
            category,
            bbox: mask_bbox_xyxy(&mask),
            mask,
            iscrowd,
            area,
        }
    }
}

/// The tight box of a mask as xyxy (exclusive end), `[0;4]` if empty.
pub fn mask_bbox_xyxy(mask: &Rle) -> [f32; 4] {
    let [x, y, w, h] = mask.to_bbox();
    [x as f32, y as f32, (x + w) as f32, (y + h) as f32]
}

/// One image and its instances.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    pub id: u64,
    /// Name relative to the dataset's image root; writers reuse it.
    pub file_name: String,
    pub source: ImageSource,
    pub width: u32,
    pub height: u32,
    pub annotations: Vec<Instance>,
    /// Rotate/flip the decoded pixels by the image's EXIF orientation tag before use
    /// (`dataset.exif = "apply"`); `width`/`height` are then the oriented size.
    pub apply_exif: bool,
}

/// Categories plus images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Sorted by `id`; position + 1 is the contiguous label.
    pub categories: Vec<Category>,
    pub images: Vec<ImageRecord>,
}

impl Dataset {
    /// Number of foreground classes K.
    pub fn num_classes(&self) -> usize {
        self.categories.len()
    }

    /// Contiguous label of an original category id.
    pub fn label_of_id(&self, id: u32) -> Option<u32> {
        self.categories
            .iter()
            .position(|c| c.id == id)
            .map(|i| i as u32 + 1)
    }

    /// Contiguous label of a class name.
    pub fn label_of_name(&self, name: &str) -> Option<u32> {
        self.categories
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as u32 + 1)
    }

    /// The category of a contiguous label.
    pub fn category(&self, label: u32) -> Option<&Category> {
        (label as usize)
            .checked_sub(1)
            .and_then(|i| self.categories.get(i))
    }

    /// Class names indexed by label, `names[0] = "background"`.
    pub fn class_names(&self) -> Vec<String> {
        std::iter::once("background".to_string())
            .chain(self.categories.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// Sort categories by id (the contiguous-label convention) and relabel instances.
    pub fn normalize_categories(&mut self) {
        let mut order: Vec<usize> = (0..self.categories.len()).collect();
        order.sort_by_key(|&i| self.categories[i].id);
        // old label (i+1) -> new label
        let mut remap = vec![0u32; self.categories.len() + 1];
        for (new, &old) in order.iter().enumerate() {
            remap[old + 1] = new as u32 + 1;
        }
        self.categories = order.iter().map(|&i| self.categories[i].clone()).collect();
        for img in &mut self.images {
            for a in &mut img.annotations {
                if let Some(&l) = remap.get(a.category as usize) {
                    a.category = l;
                }
            }
        }
    }
}
