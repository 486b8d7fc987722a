//! TFRecord files as arbitrary bytes: framing (lengths, masked CRC32C),
//! `tf.train.Example` decoding, and `read_tfrecords` on the whole file.
//!
//! Input: a mode byte, then the file. Mode bit 0 set: the rest is a list of
//! `u16`-length-prefixed payloads, framed here with correct CRCs so the fuzzer
//! reaches the Example decoder; bits 1 and 2 then damage the framed file (flip
//! one bit, cut the end). Bit 3 reads with a fixed label map.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mrcnn_data::tfrecord::{
    FrameError, Records, decode_example, encode_example, read_tfrecords, write_record,
};
use mrcnn_data::{Category, OnBadSample, ProblemLog};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut out = Vec::new();
        let mut r = rest;
        while !r.is_empty() {
            let n = if r.len() >= 2 {
                u16::from_le_bytes([r[0], r[1]]) as usize
            } else {
                0
            };
            r = &r[r.len().min(2)..];
            let (piece, tail) = r.split_at(n.min(r.len()));
            write_record(&mut out, piece).unwrap();
            r = tail;
        }
        if mode & 2 != 0 && !out.is_empty() {
            let i = (mode as usize).wrapping_mul(7919) % out.len();
            out[i] ^= 1 << ((mode >> 4) & 7);
        }
        if mode & 4 != 0 {
            let cut = ((mode >> 4) as usize + 1).min(out.len());
            out.truncate(out.len() - cut);
        }
        out
    };

    check_framing(&file);

    let path = common::temp_path("tfrecord");
    std::fs::write(&path, &file).unwrap();
    let label_map = [
        Category {
            id: 1,
            name: "circle".into(),
        },
        Category {
            id: 2,
            name: "square".into(),
        },
    ];
    let lm = (mode & 8 != 0).then_some(&label_map[..]);
    let mut skip = ProblemLog::new(OnBadSample::Skip);
    let ds = read_tfrecords(std::slice::from_ref(&path), lm, &mut skip)
        .expect("with --on-bad-sample skip only I/O can fail");
    common::check_dataset(&ds);
    let mut strict = ProblemLog::new(OnBadSample::Error);
    let strict_ok = read_tfrecords(std::slice::from_ref(&path), lm, &mut strict).is_ok();
    assert_eq!(
        strict_ok,
        skip.problems.is_empty(),
        "error policy disagrees with the skip log"
    );
    assert_eq!(
        skip.problems.len(),
        skip.skipped_images + skip.skipped_annotations
    );
    common::check_coco_round_trip(&ds);
});

/// Records never reach outside the file, and a file of good records is exactly
/// their framing; every record that decodes re-encodes stably.
fn check_framing(file: &[u8]) {
    let mut oks = Vec::new();
    let mut all_ok = true;
    for (i, r) in Records::new(file).enumerate() {
        assert!(i <= file.len() / 16, "more records than the file can hold");
        match r {
            Ok(d) => {
                let start = d.as_ptr() as usize - file.as_ptr() as usize;
                assert!(start >= 12 && start + d.len() + 4 <= file.len());
                if let Ok(ex) = decode_example(d) {
                    let enc = encode_example(&ex);
                    let again = decode_example(&enc).expect("an encoded Example decodes");
                    assert_eq!(
                        encode_example(&again),
                        enc,
                        "Example encoding is not stable"
                    );
                }
                oks.push(d);
            }
            Err(FrameError::DataCrc { offset }) => {
                assert!(offset + 16 <= file.len());
                all_ok = false;
            }
            Err(FrameError::Truncated { offset } | FrameError::LengthCrc { offset }) => {
                assert!(offset < file.len());
                all_ok = false;
            }
        }
    }
    if all_ok {
        let mut again = Vec::new();
        for d in oks {
            write_record(&mut again, d).unwrap();
        }
        assert_eq!(again, file, "good records do not frame back to the file");
    }
}
