//! numpy arrays as a pickle rebuilds them: dtype, shape, memory order and raw bytes, checked
//! against each other, and their conversion to `f32` values in C (row-major) order.

use crate::error::Refusal;
use std::rc::Rc;

/// A numpy dtype as `dtype.str` spells it (`<f4`, `|u1`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct NpDtype {
    /// numpy kind letter: `f` float, `i` signed, `u` unsigned, `b` bool; others are kept to be
    /// named in errors.
    pub kind: char,
    /// Bytes per element.
    pub size: usize,
    pub little_endian: bool,
    /// The spec the file gave, for messages.
    pub spec: String,
}

impl NpDtype {
    /// Parses `f4`, `<f8`, `|b1`, ... (what `numpy.dtype.__reduce__` writes). Unknown specs
    /// parse to a dtype that no array can use, so the error comes with the array's key.
    pub fn parse(spec: &str) -> Self {
        let (order, rest) = match spec.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (Some(c), &spec[1..]),
            _ => (None, spec),
        };
        let kind = rest.chars().next().unwrap_or('?');
        let size = rest.get(1..).and_then(|d| d.parse().ok()).unwrap_or(0);
        Self {
            kind,
            size,
            little_endian: order != Some('>'),
            spec: spec.to_string(),
        }
    }

    /// The byte order from the dtype's `__setstate__`.
    pub fn set_byte_order(&mut self, order: &str) -> Result<(), Refusal> {
        match order {
            "<" | "|" | "=" => self.little_endian = true,
            ">" => self.little_endian = false,
            o => return Err(format!("unknown numpy byte order '{o}'").into()),
        }
        Ok(())
    }

    pub(crate) fn is_supported(&self) -> bool {
        matches!(
            (self.kind, self.size),
            ('f', 2 | 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1)
        )
    }

    /// Element `i` of `bytes` as f64.
    pub(crate) fn element(&self, b: &[u8]) -> f64 {
        let mut buf = [0u8; 8];
        let n = self.size;
        buf[..n].copy_from_slice(&b[..n]);
        if !self.little_endian {
            buf[..n].reverse();
        }
        match (self.kind, n) {
            ('f', 2) => f64::from(f16_to_f32(u16::from_le_bytes([buf[0], buf[1]]))),
            ('f', 4) => f64::from(f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])),
            ('f', _) => f64::from_le_bytes(buf),
            ('i', _) => {
                let shift = 64 - 8 * n as u32;
                ((i64::from_le_bytes(buf) << shift) >> shift) as f64
            }
            _ => u64::from_le_bytes(buf) as f64,
        }
    }
}

/// A rebuilt numpy array.
#[derive(Debug, Clone)]
pub struct NdArray {
    pub dtype: NpDtype,
    pub shape: Vec<usize>,
    /// Column-major data (numpy's `is_fortran` flag).
    pub fortran: bool,
    data: Rc<Vec<u8>>,
}

impl NdArray {
    /// Checks that the data holds exactly `prod(shape)` elements of the dtype.
    pub fn new(
        dtype: NpDtype,
        shape: Vec<usize>,
        fortran: bool,
        data: Rc<Vec<u8>>,
    ) -> Result<Self, Refusal> {
        if !dtype.is_supported() {
            return Err(format!(
                "numpy dtype '{}' is not supported (only numeric arrays)",
                dtype.spec
            )
            .into());
        }
        let expected = shape
            .iter()
            .try_fold(dtype.size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("array shape {shape:?} overflows"))?;
        if expected != data.len() {
            return Err(format!(
                "array of shape {shape:?} and dtype '{}' needs {expected} bytes, the file holds {}",
                dtype.spec,
                data.len()
            )
            .into());
        }
        Ok(Self {
            dtype,
            shape,
            fortran,
            data,
        })
    }

    pub fn is_float(&self) -> bool {
        self.dtype.kind == 'f'
    }

    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32 in row-major order (Fortran-ordered arrays are transposed back).
    pub fn to_f32(&self) -> Vec<f32> {
        let n = self.num_elements();
        let size = self.dtype.size;
        let at = |i: usize| self.dtype.element(&self.data[i * size..(i + 1) * size]) as f32;
        if !self.fortran || self.shape.len() < 2 {
            return (0..n).map(at).collect();
        }
        // Element with C index q sits at the Fortran position sum(idx[d] * fstride[d]).
        let nd = self.shape.len();
        let mut fstride = vec![1usize; nd];
        for d in 1..nd {
            fstride[d] = fstride[d - 1] * self.shape[d - 1];
        }
        (0..n)
            .map(|q| {
                let (mut rem, mut p) = (q, 0);
                for d in (0..nd).rev() {
                    p += (rem % self.shape[d]) * fstride[d];
                    rem /= self.shape[d];
                }
                at(p)
            })
            .collect()
    }
}

/// IEEE half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise the mantissa.
            let shift = m.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | (((m << shift) & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x0001, 5.960_464_5e-8),
            (0x7bff, 65504.0),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
    }

    #[test]
    fn fortran_order_is_transposed() {
        let data: Vec<u8> = [1f32, 4., 2., 5., 3., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = NdArray::new(NpDtype::parse("<f4"), vec![2, 3], true, Rc::new(data)).unwrap();
        assert_eq!(a.to_f32(), vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn wrong_length_is_refused() {
        let e = NdArray::new(
            NpDtype::parse("f4"),
            vec![2, 2],
            false,
            Rc::new(vec![0; 12]),
        )
        .unwrap_err();
        assert!(e.0.contains("needs 16 bytes"), "{e}");
    }
}
