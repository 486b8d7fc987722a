//! Writes `f32` fields as the short decimal the user wrote (`1e-4` becomes `0.0001`, not
//! `0.00009999999747378752`): TOML floats are f64, and widening an f32 keeps its binary error.
//! Reading the short form back as f32 gives the same f32, so the round trip stays exact.

use serde::Serializer;

pub(crate) fn widen(x: f32) -> f64 {
    // f32's Display is the shortest text that reads back as the same f32.
    x.to_string().parse().unwrap_or(f64::from(x))
}

pub(crate) fn ser<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(widen(*x))
}

pub(crate) fn ser_opt<S: Serializer>(x: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.serialize_some(&widen(*x)),
        None => s.serialize_none(),
    }
}
