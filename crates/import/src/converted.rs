//! What every framework's reader returns: the checkpoint in torchvision's names and class
//! layout, and how lists of names are shown in messages.

use crate::tensors::TensorMap;

/// A checkpoint renamed to torchvision's names and class layout.
#[derive(Debug, Clone)]
pub struct Converted {
    pub tensors: TensorMap,
    /// Source keys that hold no model weight (buffers, counters, metadata).
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
}

/// The first few names of a list, for messages.
pub fn preview(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", ... ({} more)", names.len() - SHOWN));
    }
    s
}
