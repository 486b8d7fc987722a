//! The sorted-table format TensorFlow's checkpoint index uses (`tensorflow/core/lib/io/table*`,
//! LevelDB's table format): data blocks of prefix-compressed key/value entries, an index block
//! pointing at them, a 48-byte footer with the index's position and a magic number, and a
//! masked CRC-32C after every block.
//!
//! Written here because no maintained crate reads this format without also bringing a LevelDB
//! database engine (the `rusty-leveldb` and `leveldb` crates open whole databases, with their
//! own file layout and locking), and a checkpoint index is one small, uncompressed table.

use super::masked_crc_matches;

/// `kTableMagicNumber` of TensorFlow's (and LevelDB's) table footer.
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER: usize = 48;
/// A block's trailer: compression type byte + masked CRC-32C.
const TRAILER: usize = 5;

/// A table's key/value entries, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Where a block lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Handle {
    offset: u64,
    size: u64,
}

fn varint(b: &[u8], p: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*p).ok_or("a number runs past the end of its block")?;
        *p += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a number is longer than 10 bytes".into())
}

fn handle(b: &[u8], p: &mut usize) -> Result<Handle, String> {
    Ok(Handle {
        offset: varint(b, p)?,
        size: varint(b, p)?,
    })
}

/// The contents of the block at `h`, its checksum verified.
fn block(file: &[u8], h: Handle, what: &str) -> Result<Vec<u8>, String> {
    let start = usize::try_from(h.offset).map_err(|_| "block offset too large")?;
    let size = usize::try_from(h.size).map_err(|_| "block size too large")?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(TRAILER))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            format!(
                "the {what} block at bytes {start}..{} lies past the end of the file ({} bytes): \
                 the index is truncated",
                start.saturating_add(size),
                file.len()
            )
        })?;
    let kind = file[start + size];
    let stored = u32::from_le_bytes(file[start + size + 1..end].try_into().expect("4 bytes"));
    if !masked_crc_matches(&file[start..start + size + 1], stored) {
        return Err(format!(
            "the {what} block at byte {start} does not match its checksum: the index is damaged"
        ));
    }
    match kind {
        0 => Ok(file[start..start + size].to_vec()),
        1 => Err(format!(
            "the {what} block is Snappy-compressed; TensorFlow writes checkpoint indexes \
             uncompressed, so this is not a checkpoint index"
        )),
        k => Err(format!("the {what} block has unknown compression type {k}")),
    }
}

/// The entries of one block, keys restored from their shared prefixes.
fn entries(b: &[u8], what: &str) -> Result<Entries, String> {
    let bad = |m: &str| format!("the {what} block is malformed: {m}");
    if b.len() < 4 {
        return Err(bad("shorter than its restart count"));
    }
    let restarts = u32::from_le_bytes(b[b.len() - 4..].try_into().expect("4 bytes")) as usize;
    let limit = restarts
        .checked_add(1)
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| b.len().checked_sub(n))
        .ok_or_else(|| bad("its restart array is larger than the block"))?;
    let mut out = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut p = 0;
    while p < limit {
        let shared = varint(b, &mut p).map_err(|e| bad(&e))? as usize;
        let unshared = varint(b, &mut p).map_err(|e| bad(&e))? as usize;
        let value_len = varint(b, &mut p).map_err(|e| bad(&e))? as usize;
        if shared > key.len() {
            return Err(bad("a key shares more bytes than the previous key has"));
        }
        let end = p
            .checked_add(unshared)
            .and_then(|e| e.checked_add(value_len))
            .filter(|&e| e <= limit)
            .ok_or_else(|| bad("an entry runs past the end of the block"))?;
        key.truncate(shared);
        key.extend_from_slice(&b[p..p + unshared]);
        out.push((key.clone(), b[p + unshared..end].to_vec()));
        p = end;
    }
    Ok(out)
}

/// Every key/value of the table in `file`, in key order.
pub fn read_table(file: &[u8]) -> Result<Entries, String> {
    if file.len() < FOOTER {
        return Err(format!(
            "{} bytes: shorter than a table footer ({FOOTER} bytes); not a checkpoint index",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER..];
    let magic = u64::from_le_bytes(footer[40..].try_into().expect("8 bytes"));
    if magic != MAGIC {
        return Err(
            "its last 8 bytes are not the table magic number: not a TensorFlow checkpoint \
             index (or a truncated one)"
                .into(),
        );
    }
    let mut p = 0;
    let _meta = handle(footer, &mut p)?;
    let index = handle(footer, &mut p)?;
    let mut out = Vec::new();
    for (_, v) in entries(&block(file, index, "index")?, "index")? {
        let mut q = 0;
        let h = handle(&v, &mut q)?;
        out.extend(entries(&block(file, h, "data")?, "data")?);
    }
    Ok(out)
}
