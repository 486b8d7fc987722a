//! TFRecord framing: `u64 length | u32 masked_crc32c(length) | data | u32 masked_crc32c(data)`,
//! all little-endian, as TensorFlow's `record_writer.cc`.

use std::io::Write;

/// TensorFlow masks CRCs because CRCs of data that contains CRCs are weak.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// Append one framed record.
pub fn write_record(w: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc32c(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc32c(data).to_le_bytes())
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file ends inside a record.
    Truncated { offset: usize },
    /// The length's CRC is wrong: the length cannot be trusted, nothing after it can be read.
    LengthCrc { offset: usize },
    /// The data's CRC is wrong; the next record can still be read.
    DataCrc { offset: usize },
}

/// Iterates over the records in a whole file's bytes.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Records<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Records {
            buf,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos == self.buf.len() {
            return None;
        }
        let offset = self.pos;
        let rest = &self.buf[self.pos..];
        let fail = |s: &mut Self, e| {
            s.done = true;
            Some(Err(e))
        };
        if rest.len() < 12 {
            return fail(self, FrameError::Truncated { offset });
        }
        let len_bytes = &rest[..8];
        let len_crc = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if masked_crc32c(len_bytes) != len_crc {
            return fail(self, FrameError::LengthCrc { offset });
        }
        let mut l8 = [0u8; 8];
        l8.copy_from_slice(len_bytes);
        let len = u64::from_le_bytes(l8);
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(16)) else {
            return fail(self, FrameError::Truncated { offset });
        };
        if rest.len() < end {
            return fail(self, FrameError::Truncated { offset });
        }
        let data = &rest[12..end - 4];
        let data_crc =
            u32::from_le_bytes([rest[end - 4], rest[end - 3], rest[end - 2], rest[end - 1]]);
        self.pos += end;
        if masked_crc32c(data) != data_crc {
            return Some(Err(FrameError::DataCrc { offset }));
        }
        Some(Ok(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut buf = Vec::new();
        write_record(&mut buf, b"hello").unwrap();
        write_record(&mut buf, b"").unwrap();
        write_record(&mut buf, b"world").unwrap();
        let r: Vec<_> = Records::new(&buf).collect();
        assert_eq!(r, vec![Ok(&b"hello"[..]), Ok(&b""[..]), Ok(&b"world"[..])]);

        let mut bad = buf.clone();
        bad[13] ^= 1; // data of the first record
        let r: Vec<_> = Records::new(&bad).collect();
        assert_eq!(r[0], Err(FrameError::DataCrc { offset: 0 }));
        assert_eq!(r.len(), 3);

        let mut bad = buf.clone();
        bad[0] ^= 1; // length of the first record
        let r: Vec<_> = Records::new(&bad).collect();
        assert_eq!(r, vec![Err(FrameError::LengthCrc { offset: 0 })]);

        let r: Vec<_> = Records::new(&buf[..buf.len() - 2]).collect();
        assert_eq!(r[2], Err(FrameError::Truncated { offset: 37 }));
    }

    #[test]
    fn known_crc() {
        // crc32c("123456789") = 0xE3069283 (RFC 3720 check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }
}
