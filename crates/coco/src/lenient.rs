//! Reading an instances file entry by entry, for dataset readers that report a malformed entry
//! and go on (under their bad-sample policy) instead of failing the whole file. The entries are
//! the same [`crate::schema`] types that [`crate::CocoGt`] reads.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::CocoError;
use crate::schema::{self, Annotation, Category, Image};

/// Each entry of an instances file, parsed alone: `Err` holds why it does not fit the schema.
/// Positions are the entries' indices in the file.
#[derive(Debug)]
pub struct LenientInstances {
    pub images: Vec<Result<Image, serde_json::Error>>,
    pub annotations: Vec<Result<Annotation, serde_json::Error>>,
    pub categories: Vec<Result<Category, serde_json::Error>>,
}

#[derive(Deserialize)]
struct Top {
    #[serde(default)]
    images: Vec<Value>,
    #[serde(default)]
    annotations: Vec<Value>,
    #[serde(default)]
    categories: Vec<Value>,
}

fn entries<T: DeserializeOwned>(list: Vec<Value>) -> Vec<Result<T, serde_json::Error>> {
    list.into_iter().map(serde_json::from_value).collect()
}

impl LenientInstances {
    /// Parses the top level (an object with lists) strictly and each entry leniently.
    pub fn from_json_str(text: &str) -> Result<Self, CocoError> {
        schema::expect_object(text, "COCO instances file")?;
        let top: Top = serde_json::from_str(text).map_err(|source| CocoError::Json {
            what: "COCO instances".into(),
            source,
        })?;
        Ok(Self {
            images: entries(top.images),
            annotations: entries(top.annotations),
            categories: entries(top.categories),
        })
    }
}
