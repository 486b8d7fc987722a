//! Head surgery: fitting a checkpoint's class-specific layers (class scores, box deltas, mask
//! logits) to the model config's classes. Every other tensor is class-agnostic and kept as is.
//!
//! A target class whose name matches a source class (case and `_`/space insensitive; `N/A`
//! placeholders never match) keeps that class's rows, so a COCO checkpoint fine-tuned on a
//! subset of COCO starts from what it knows. Rows without a source are re-initialised as
//! Detectron2 initialises a new predictor: normal with std 0.01 (class scores), 0.001 (box
//! deltas) and 0.001 (mask logits), biases 0. With no match at all, the background row is
//! re-initialised too, exactly like a fresh Detectron2 head.

use crate::layout::{self, CLASS_SPECIFIC};
use crate::tensors::TensorMap;
use std::fmt;

/// Where one target class's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSource {
    /// Target label (0 = background).
    pub label: usize,
    pub name: String,
    /// Source label (torchvision layout, 0 = background) and its name; `None` = re-initialised.
    pub from: Option<(usize, String)>,
}

/// What surgery did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurgeryReport {
    /// Source and target class counts, background included.
    pub source_classes: usize,
    pub target_classes: usize,
    /// How classes were matched: "identical", "by name", "by position" or "none".
    pub method: String,
    pub classes: Vec<ClassSource>,
    /// Class-specific tensors that got new rows (name, re-initialised rows).
    pub reinitialised: Vec<(String, usize)>,
}

impl SurgeryReport {
    /// True when the class-specific layers were left untouched.
    pub fn is_identity(&self) -> bool {
        self.reinitialised.is_empty()
            && self
                .classes
                .iter()
                .all(|c| c.from.as_ref().map(|f| f.0) == Some(c.label))
    }
}

fn normalise(name: &str) -> String {
    name.trim().to_lowercase().replace(['_', '-'], " ")
}

fn is_placeholder(name: &str) -> bool {
    let n = normalise(name);
    n.is_empty() || n == "n/a" || n == "__background__" || n == "background"
}

/// Decides, for each target label, which source label (if any) it takes its rows from.
/// `source_names`/`target_names` list the foreground classes (label 1 first), when known.
pub fn plan(
    source_classes: usize,
    source_names: Option<&[String]>,
    target_classes: usize,
    target_names: &[String],
) -> SurgeryReport {
    let name_of = |names: Option<&[String]>, l: usize| -> String {
        if l == 0 {
            return "__background__".into();
        }
        names
            .and_then(|n| n.get(l - 1))
            .cloned()
            .unwrap_or_else(|| format!("class {l}"))
    };
    let tnames = (!target_names.is_empty()).then_some(target_names);
    let by_name = match (source_names, tnames) {
        (Some(s), Some(t)) if s.len() + 1 == source_classes => Some((s, t)),
        _ => None,
    };
    let (method, from): (&str, Vec<Option<usize>>) = if let Some((s, t)) = by_name {
        let mut from: Vec<Option<usize>> = std::iter::once(Some(0))
            .chain(t.iter().map(|tn| {
                if is_placeholder(tn) {
                    return None;
                }
                let tn = normalise(tn);
                s.iter()
                    .position(|sn| !is_placeholder(sn) && normalise(sn) == tn)
                    .map(|i| i + 1)
            }))
            .collect();
        let identical =
            source_classes == target_classes && from.iter().enumerate().all(|(i, f)| *f == Some(i));
        if from[1..].iter().all(Option::is_none) {
            from[0] = None;
            ("none (no class name matches)", from)
        } else if identical {
            ("identical (same class names)", from)
        } else {
            ("by name", from)
        }
    } else if source_classes == target_classes {
        (
            "by position (same class count, names unknown)",
            (0..target_classes).map(Some).collect(),
        )
    } else {
        (
            "none (class counts differ, names unknown)",
            vec![None; target_classes],
        )
    };
    SurgeryReport {
        source_classes,
        target_classes,
        method: method.into(),
        classes: from
            .iter()
            .enumerate()
            .map(|(l, f)| ClassSource {
                label: l,
                name: name_of(tnames, l),
                from: f.map(|s| (s, name_of(source_names, s))),
            })
            .collect(),
        reinitialised: Vec::new(),
    }
}

/// Rewrites the class-specific tensors of a torchvision-layout map following `report`'s plan
/// (filling in `report.reinitialised`). `seed` makes the new rows reproducible.
pub fn apply(map: &mut TensorMap, report: &mut SurgeryReport, seed: u64) {
    for (ki, key) in CLASS_SPECIFIC.iter().enumerate() {
        let Some(t) = map.get(*key) else { continue };
        let per = layout::rows_per_class(key);
        let rows: Vec<Option<usize>> = report
            .classes
            .iter()
            .flat_map(|c| (0..per).map(move |r| c.from.as_ref().map(|(s, _)| s * per + r)))
            .collect();
        let mut new = t.gather_rows(&rows);
        let fresh = rows.iter().filter(|r| r.is_none()).count();
        if fresh > 0 {
            let std = init_std(key);
            let l = new.row_len();
            let mut rng = SplitMix64(seed ^ (ki as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for (r, src) in rows.iter().enumerate() {
                if src.is_none() {
                    // Biases stay zero (gather_rows wrote zeros); weights are drawn.
                    for v in &mut new.data[r * l..(r + 1) * l] {
                        *v = if std > 0.0 { rng.normal() * std } else { 0.0 };
                    }
                }
            }
            report.reinitialised.push((key.to_string(), fresh));
        }
        if new != *t {
            map.insert(key.to_string(), new);
        }
    }
}

/// Detectron2's init std of a new predictor weight; 0 for biases.
fn init_std(key: &str) -> f32 {
    match key {
        layout::CLS_WEIGHT => 0.01,
        layout::BOX_WEIGHT | layout::MASK_WEIGHT => 0.001,
        _ => 0.0,
    }
}

/// A tiny deterministic generator (splitmix64 + Box-Muller): surgery must not depend on
/// the backend's RNG, so the same seed gives the same file everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

impl fmt::Display for SurgeryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "classes: {} in the checkpoint -> {} in the model config (background included); matched {}",
            self.source_classes, self.target_classes, self.method
        )?;
        let kept = self.classes.iter().filter(|c| c.from.is_some()).count();
        writeln!(
            f,
            "  rows carried over for {kept} of {} classes",
            self.classes.len()
        )?;
        for c in &self.classes {
            match &c.from {
                Some((s, n)) if *s == c.label && *n == c.name => {}
                Some((s, n)) => writeln!(f, "  {:>3} {:<24} <- source {s} '{n}'", c.label, c.name)?,
                None => writeln!(f, "  {:>3} {:<24} re-initialised", c.label, c.name)?,
            }
        }
        for (k, n) in &self.reinitialised {
            writeln!(f, "  re-initialised {n} row(s) of {k}")?;
        }
        Ok(())
    }
}

/// Keeps the source's classes as they are (used when no surgery is wanted).
pub fn identity(classes: usize, names: Option<&[String]>) -> SurgeryReport {
    plan(classes, names, classes, names.unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensors::HostTensor;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn carries_rows_by_name_and_reinitialises_the_rest() {
        let src = names(&["cat", "dog", "N/A", "traffic light"]);
        let mut r = plan(5, Some(&src), 4, &names(&["Traffic_Light", "cow", "cat"]));
        let from: Vec<_> = r
            .classes
            .iter()
            .map(|c| c.from.as_ref().map(|f| f.0))
            .collect();
        assert_eq!(from, vec![Some(0), Some(4), None, Some(1)]);
        let mut m = TensorMap::new();
        m.insert(
            layout::CLS_BIAS.into(),
            HostTensor::new(vec![5], vec![0., 1., 2., 3., 4.]),
        );
        m.insert(
            layout::BOX_WEIGHT.into(),
            HostTensor::new(vec![20, 1], (0..20).map(|v| v as f32).collect()),
        );
        apply(&mut m, &mut r, 7);
        assert_eq!(m[layout::CLS_BIAS].data, vec![0., 4., 0., 1.]);
        let b = &m[layout::BOX_WEIGHT].data;
        assert_eq!(&b[4..8], &[16., 17., 18., 19.]);
        assert!(b[8..12].iter().all(|v| v.abs() < 0.01 && *v != 0.0));
    }

    #[test]
    fn no_names_and_other_count_reinitialises_everything() {
        let r = plan(81, None, 3, &[]);
        assert!(r.classes.iter().all(|c| c.from.is_none()));
        assert!(identity(4, None).is_identity());
    }
}
