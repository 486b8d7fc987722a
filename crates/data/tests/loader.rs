//! The batch loader: order, determinism, resume, bad samples, prefetch, shutdown.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mrcnn_data::SynthSection;
use mrcnn_data::coco::read_coco;
use mrcnn_data::synth::synth;
use mrcnn_data::transforms::ColorJitter;
use mrcnn_data::{
    Batch, BatchStream, Dataset, Loader, LoaderConfig, OnBadSample, ProblemKind, ProblemLog,
    TransformConfig, Transforms, load_sample,
};

/// `n` synthetic `w`x`h` PNGs with masks, read back through the COCO reader.
fn shapes(dir: &Path, n: usize, w: u32, h: u32) -> Dataset {
    let args = SynthSection {
        out: dir.to_path_buf(),
        train_images: n,
        val_images: 0,
        width: w,
        height: h,
        min_objects: 1,
        max_objects: 3,
        min_area: 20,
        seed: 11,
    };
    synth(&args).unwrap();
    let mut log = ProblemLog::new(OnBadSample::Error);
    read_coco(&dir.join("train.json"), &dir.join("images"), &mut log).unwrap()
}

fn transforms() -> Transforms {
    Transforms::new(
        TransformConfig {
            min_sizes: vec![24, 40],
            max_size: 100,
            hflip_prob: 0.5,
            color_jitter: Some(ColorJitter {
                brightness: 0.2,
                contrast: 0.2,
                saturation: 0.2,
            }),
            resize: true,
        },
        5,
    )
}

fn config(batch_size: usize, workers: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        workers,
        prefetch: 2,
        shuffle: true,
        seed: 3,
        on_bad_sample: OnBadSample::Error,
    }
}

fn take(loader: &Loader, start: u64, k: usize) -> Vec<Batch> {
    loader.stream(start).take(k).map(|b| b.unwrap()).collect()
}

#[test]
fn same_batches_for_any_worker_count_and_resume_is_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(shapes(dir.path(), 7, 40, 32));
    let loader = |workers| Loader::new(ds.clone(), Some(transforms()), config(3, workers));
    // 10 batches of 3 = 30 positions: more than four epochs of 7, batches straddle epochs.
    let reference = take(&loader(0), 0, 10);
    assert_eq!(loader(0).batches_per_epoch(), 3);
    for workers in [1, 3] {
        assert_eq!(
            take(&loader(workers), 0, 10),
            reference,
            "workers {workers}"
        );
    }
    for (i, b) in reference.iter().enumerate() {
        assert_eq!(b.iteration, i as u64);
        assert_eq!(b.epoch, (i as u64 * 3) / 7);
        assert_eq!(b.samples.len(), 3);
        assert!(b.skipped.is_empty());
    }
    // Each item is Transforms::apply(load_sample, epoch, dataset index).
    let t = transforms();
    let b = &reference[2]; // positions 6..9: epoch 0's last item, then epoch 1
    let expect_epochs = [0, 1, 1];
    for (k, (&i, s)) in b.indices.iter().zip(&b.samples).enumerate() {
        let raw = load_sample(&ds.images[i]).unwrap();
        assert_eq!(*s, t.apply(raw, expect_epochs[k], i as u64));
    }
    // Resume: stream(k) is stream(0) from batch k, whatever the worker count.
    for (start, workers) in [(4, 0), (4, 2), (7, 3)] {
        let tail = take(&loader(workers), start, 10 - start as usize);
        assert_eq!(tail, reference[start as usize..], "start {start}");
    }
}

#[test]
fn every_epoch_is_a_permutation_and_seeds_change_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(shapes(dir.path(), 7, 16, 16));
    let order = |seed, shuffle| {
        let cfg = LoaderConfig {
            seed,
            shuffle,
            ..config(3, 2)
        };
        // 12 batches of 3 = 36 positions: five full epochs of 7 (and one item).
        let idx: Vec<usize> = take(&Loader::new(ds.clone(), None, cfg), 0, 12)
            .into_iter()
            .flat_map(|b| b.indices)
            .collect();
        idx
    };
    let a = order(3, true);
    let epochs: Vec<&[usize]> = a.chunks(7).take(5).collect();
    for (e, chunk) in epochs.iter().enumerate() {
        let mut sorted = chunk.to_vec();
        sorted.sort();
        assert_eq!(sorted, (0..7).collect::<Vec<_>>(), "epoch {e}: {chunk:?}");
    }
    assert!(epochs.windows(2).any(|w| w[0] != w[1]), "epochs reshuffled");
    let loader = Loader::new(ds.clone(), None, config(3, 0));
    assert_eq!(epochs[1], loader.epoch_order(1));
    assert_ne!(order(4, true), a, "another seed, another order");
    assert_eq!(order(3, true), a, "same seed, same order");
    let plain = order(3, false);
    let identity: Vec<usize> = (0..36).map(|p| p % 7).collect();
    assert_eq!(plain, identity);
}

#[test]
fn one_pass_is_ordered_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(shapes(dir.path(), 7, 16, 16));
    for workers in [0, 2] {
        let loader = Loader::new(ds.clone(), None, config(3, workers));
        let batches: Vec<Batch> = loader.one_pass().map(|b| b.unwrap()).collect();
        let sizes: Vec<usize> = batches.iter().map(|b| b.samples.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let idx: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_eq!(idx, (0..7).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.epoch == 0));
        for (i, s) in idx.iter().zip(batches.iter().flat_map(|b| &b.samples)) {
            assert_eq!(*s, load_sample(&ds.images[*i]).unwrap());
        }
    }
}

/// A dataset whose image 2 is not a PNG any more.
fn with_corrupt_image(dir: &Path) -> Dataset {
    let ds = shapes(dir, 6, 16, 16);
    std::fs::write(dir.join("images/train/000002.png"), b"not a png").unwrap();
    ds
}

#[test]
fn skip_policy_lists_the_bad_file_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(with_corrupt_image(dir.path()));
    for workers in [0, 3] {
        let cfg = LoaderConfig {
            on_bad_sample: OnBadSample::Skip,
            shuffle: false,
            ..config(3, workers)
        };
        let loader = Loader::new(ds.clone(), None, cfg.clone());
        let b: Vec<Batch> = loader.one_pass().map(|b| b.unwrap()).collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].indices, [0, 1]);
        assert_eq!(b[1].indices, [3, 4, 5]);
        assert!(b[1].skipped.is_empty());
        let p = &b[0].skipped[..];
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, ProblemKind::CorruptImage);
        assert!(p[0].file.ends_with("000002.png"), "{}", p[0]);
        assert_eq!(p[0].record, Some(2));
        for (i, s) in b[0].indices.iter().zip(&b[0].samples) {
            assert_eq!(*s, load_sample(&ds.images[*i]).unwrap());
        }
        // The training stream skips it once per epoch and goes on.
        let stream = take(&Loader::new(ds.clone(), None, cfg), 0, 6);
        let skipped: usize = stream.iter().map(|b| b.skipped.len()).sum();
        let kept: usize = stream.iter().map(|b| b.samples.len()).sum();
        assert_eq!((skipped, kept), (3, 15));
    }
    // A batch whose samples were all bad is still yielded.
    let cfg = LoaderConfig {
        on_bad_sample: OnBadSample::Skip,
        ..config(1, 2)
    };
    let b: Vec<Batch> = Loader::new(ds.clone(), None, cfg)
        .one_pass()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(b.len(), 6);
    assert!(b[2].samples.is_empty() && b[2].indices.is_empty());
    assert_eq!(b[2].skipped.len(), 1);
}

#[test]
fn error_policy_stops_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(with_corrupt_image(dir.path()));
    for workers in [0, 1, 3] {
        let cfg = LoaderConfig {
            shuffle: false,
            ..config(2, workers)
        };
        let mut s = Loader::new(ds.clone(), None, cfg).stream(0);
        assert_eq!(s.next().unwrap().unwrap().indices, [0, 1]);
        let e = s.next().unwrap().unwrap_err();
        assert!(e.file.ends_with("000002.png"));
        assert!(e.to_string().contains("000002.png record 2"), "{e}");
        assert!(s.next().is_none());
        assert!(s.next().is_none());
    }
}

#[test]
fn empty_dataset_yields_one_error() {
    let ds = Arc::new(Dataset::default());
    let loader = Loader::new(ds, None, config(2, 2));
    assert_eq!(loader.batches_per_epoch(), 0);
    for mut s in [loader.stream(0), loader.one_pass()] {
        let e = s.next().unwrap().unwrap_err();
        assert!(e.to_string().contains("no images"), "{e}");
        assert!(s.next().is_none());
    }
}

/// Wait until the stream has decoded `n` items, then check it stays there.
fn settles_at(s: &BatchStream, n: u64) {
    let t = Instant::now();
    while s.items_decoded() < n && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.items_decoded(), n);
}

#[test]
fn prefetch_bounds_the_work_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(shapes(dir.path(), 9, 16, 16));
    for prefetch in [1, 3] {
        let cfg = LoaderConfig {
            prefetch,
            ..config(2, 4)
        };
        let mut s = Loader::new(ds.clone(), None, cfg).stream(0);
        let p = prefetch as u64;
        settles_at(&s, 2 * p);
        for k in 1..=4u64 {
            assert_eq!(s.next().unwrap().unwrap().iteration, k - 1);
            settles_at(&s, 2 * (p + k));
        }
    }
}

#[test]
fn dropping_a_stream_stops_the_workers_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(shapes(dir.path(), 4, 64, 64));
    // Each item is upsampled to 800x800: 64 batches ahead would be seconds of work.
    let big = Transforms::new(
        TransformConfig {
            min_sizes: vec![800],
            max_size: 1333,
            ..TransformConfig::default()
        },
        0,
    );
    let cfg = LoaderConfig {
        prefetch: 64,
        ..config(4, 2)
    };
    let mut s = Loader::new(ds, Some(big), cfg).stream(0);
    assert_eq!(s.next().unwrap().unwrap().samples.len(), 4);
    let t = Instant::now();
    drop(s);
    // The workers finish only the item in hand (tens of ms).
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
