//! Batches for training and validation: worker threads, bounded prefetch,
//! per-epoch seeded shuffling, and an infinite stream that can start at any
//! iteration (`--resume`).
//!
//! Why this is not burn's `DataLoader` (burn-core 0.22 `data::dataloader`):
//! * It cannot start mid-stream: the only way to reach batch k is to produce
//!   (decode and augment) the k batches before it.
//! * Its shuffle is drawn from one rng that advances at every `iter()`, so an
//!   epoch's order depends on how many epochs this process has run, not on
//!   (seed, epoch); a resumed run would see other orders.
//! * `MultiThreadDataLoader` shuffles once, splits the data into one chunk per
//!   thread, and yields batches in the order the threads finish them, so the
//!   batch order depends on the thread count and on timing.
//! * Its batches end with the epoch (a short last batch); training here is a
//!   continuous stream of full batches across epochs, as Detectron2's
//!   `TrainingSampler`.
//! * It lives in burn-core and batches onto a device; this crate stays free of
//!   burn (the trainer turns [`Sample`]s into tensors).
//!
//! What is hand-written here is small: one permutation per epoch, a job queue
//! (std `mpsc` behind a mutex), and a reorder buffer keyed by stream position.
//!
//! # The stream
//! Stream position `p` is item `p % n` of epoch `p / n`'s order, which is a
//! permutation drawn from a ChaCha8 rng seeded by (seed, epoch) when
//! `shuffle`, else `0..n`. Batch `i` holds positions `[i·bs, (i+1)·bs)`. Item
//! `p` (dataset image `index`) is augmented by
//! `Transforms::apply(sample, epoch, index)`. Nothing depends on the thread
//! count, the prefetch depth or the start iteration: `stream(k)` gives exactly
//! the batches from k on of `stream(0)`.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{OnBadSample, Problem, ProblemKind};
use crate::model::{Dataset, ImageRecord, ImageSource};
use crate::sample::{Sample, load_sample};
use crate::transforms::Transforms;

/// How a [`Loader`] batches, shuffles and parallelises.
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderConfig {
    /// Images per batch (at least 1; 0 makes the streams yield one error).
    pub batch_size: usize,
    /// Decoding threads; 0 decodes on the calling thread inside `next()`.
    pub workers: usize,
    /// Batches decoded ahead of the consumer (with workers; 0 counts as 1).
    pub prefetch: usize,
    /// Shuffle each epoch (training stream only; [`Loader::one_pass`] never does).
    pub shuffle: bool,
    pub seed: u64,
    /// A sample that fails to load: stop with its [`Problem`], or leave it out
    /// of its batch and list it in [`Batch::skipped`].
    pub on_bad_sample: OnBadSample,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 2,
            workers: 2,
            prefetch: 2,
            shuffle: true,
            seed: 0,
            on_bad_sample: OnBadSample::Error,
        }
    }
}

/// One batch of decoded, augmented samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Batch number in the stream (from 0 in [`Loader::one_pass`]).
    pub iteration: u64,
    /// Epoch of the batch's first item.
    pub epoch: u64,
    /// Dataset image indices of `samples`, in order.
    pub indices: Vec<usize>,
    pub samples: Vec<Sample>,
    /// Bad samples left out of this batch ([`OnBadSample::Skip`]); `record` is
    /// the image's index in [`Dataset::images`] unless the reader set it.
    pub skipped: Vec<Problem>,
}

/// A dataset, its augmentation and the batching rules; cheap to clone.
#[derive(Clone, Debug)]
pub struct Loader {
    dataset: Arc<Dataset>,
    transforms: Option<Transforms>,
    config: LoaderConfig,
}

impl Loader {
    /// An empty dataset or `batch_size` 0 is accepted here; the streams then
    /// yield one `Err` saying so.
    pub fn new(
        dataset: Arc<Dataset>,
        transforms: Option<Transforms>,
        config: LoaderConfig,
    ) -> Self {
        Loader {
            dataset,
            transforms,
            config,
        }
    }

    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.dataset
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.dataset.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `ceil(len / batch_size)`.
    pub fn batches_per_epoch(&self) -> usize {
        self.len().div_ceil(self.config.batch_size.max(1))
    }

    /// Dataset indices in `epoch`'s order in the training stream.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        epoch_order(self.len(), self.config.shuffle, self.config.seed, epoch)
    }

    /// The infinite training stream from batch `start_iteration` on (see the
    /// module docs). Dropping it stops the workers after their current item.
    pub fn stream(&self, start_iteration: u64) -> BatchStream {
        BatchStream::new(self, Mode::Stream, start_iteration)
    }

    /// One ordered pass over the data (validation): no shuffle, epoch 0, the
    /// given transforms (if any) applied with epoch 0, last batch may be short.
    pub fn one_pass(&self) -> BatchStream {
        BatchStream::new(self, Mode::OnePass, 0)
    }
}

/// Dataset indices of one epoch: a ChaCha8 permutation seeded by (seed, epoch), or `0..n`.
pub fn epoch_order(n: usize, shuffle: bool, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&epoch.to_le_bytes());
        key[16..28].copy_from_slice(b"mrcnn-loader");
        order.shuffle(&mut ChaCha8Rng::from_seed(key));
    }
    order
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Stream,
    OnePass,
}

/// Maps stream positions to (epoch, dataset index), keeping the last epoch's order.
struct Order {
    n: u64,
    mode: Mode,
    shuffle: bool,
    seed: u64,
    cached: Option<(u64, Vec<usize>)>,
}

impl Order {
    fn locate(&mut self, pos: u64) -> (u64, usize) {
        if self.mode == Mode::OnePass {
            return (0, pos as usize);
        }
        let (epoch, k) = (pos / self.n, (pos % self.n) as usize);
        match &self.cached {
            Some((e, order)) if *e == epoch => (epoch, order[k]),
            _ => {
                let order = epoch_order(self.n as usize, self.shuffle, self.seed, epoch);
                let index = order[k];
                self.cached = Some((epoch, order));
                (epoch, index)
            }
        }
    }
}

struct Job {
    pos: u64,
    epoch: u64,
    index: usize,
}

struct Done {
    pos: u64,
    epoch: u64,
    index: usize,
    result: Result<Sample, Problem>,
}

/// What every worker shares.
struct Work {
    dataset: Arc<Dataset>,
    transforms: Option<Transforms>,
    decoded: AtomicU64,
    stop: AtomicBool,
}

impl Work {
    /// Decode and augment one item; a panic becomes a [`Problem`] too, so one
    /// bad file cannot hang the stream.
    fn run(&self, job: &Job) -> Done {
        let rec = &self.dataset.images[job.index];
        let result = catch_unwind(AssertUnwindSafe(|| {
            let s = load_sample(rec)?;
            Ok(match &self.transforms {
                Some(t) => t.apply(s, job.epoch, job.index as u64),
                None => s,
            })
        }))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Problem::new(
                ProblemKind::CorruptImage,
                record_name(rec),
                format!("panicked while decoding or augmenting: {msg}"),
            ))
        })
        .map_err(|p| {
            if p.record.is_none() {
                p.record(job.index)
            } else {
                p
            }
        });
        self.decoded.fetch_add(1, Ordering::Relaxed);
        Done {
            pos: job.pos,
            epoch: job.epoch,
            index: job.index,
            result,
        }
    }
}

fn record_name(rec: &ImageRecord) -> PathBuf {
    match &rec.source {
        ImageSource::File(p) => p.clone(),
        ImageSource::Encoded { origin, .. } => format!("{origin} ({})", rec.file_name).into(),
    }
}

struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
}

enum State {
    Running,
    /// The stream could not start: yield this once, then end.
    Refused(Problem),
    Ended,
}

/// Batches in order; see [`Loader::stream`] and [`Loader::one_pass`].
pub struct BatchStream {
    work: Arc<Work>,
    order: Order,
    mode: Mode,
    batch_size: u64,
    policy: OnBadSample,
    prefetch: u64,
    /// The next batch to yield.
    next_batch: u64,
    /// Batches `[next_batch, issued_end)` have been handed to the workers.
    issued_end: u64,
    pool: Option<Pool>,
    /// Finished items that arrived ahead of their turn, by position.
    pending: HashMap<u64, Done>,
    state: State,
}

impl BatchStream {
    fn new(loader: &Loader, mode: Mode, start: u64) -> Self {
        let cfg = &loader.config;
        let work = Arc::new(Work {
            dataset: loader.dataset.clone(),
            transforms: loader.transforms.clone(),
            decoded: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let state = if loader.is_empty() {
            State::Refused(Problem::new(
                ProblemKind::BadRecord,
                "<dataset>",
                "the dataset has no images",
            ))
        } else if cfg.batch_size == 0 {
            State::Refused(Problem::new(
                ProblemKind::BadRecord,
                "<loader config>",
                "batch_size must be at least 1",
            ))
        } else {
            State::Running
        };
        let mut s = BatchStream {
            work,
            order: Order {
                n: loader.len() as u64,
                mode,
                shuffle: cfg.shuffle,
                seed: cfg.seed,
                cached: None,
            },
            mode,
            batch_size: cfg.batch_size as u64,
            policy: cfg.on_bad_sample,
            prefetch: cfg.prefetch.max(1) as u64,
            next_batch: start,
            issued_end: start,
            pool: None,
            pending: HashMap::new(),
            state,
        };
        if matches!(s.state, State::Running) && cfg.workers > 0 {
            s.pool = Some(spawn_pool(&s.work, cfg.workers));
            s.top_up();
        }
        s
    }

    /// Items (good or bad) decoded so far by this stream, including those
    /// buffered ahead; with workers it never exceeds the yielded batches'
    /// items plus `prefetch` batches.
    pub fn items_decoded(&self) -> u64 {
        self.work.decoded.load(Ordering::Relaxed)
    }

    /// Positions `[start, end)` of batch `i`, or None past the end of a one-pass.
    fn batch_range(&self, i: u64) -> Option<(u64, u64)> {
        let start = i.saturating_mul(self.batch_size);
        let end = start.saturating_add(self.batch_size);
        match self.mode {
            Mode::Stream => Some((start, end)),
            Mode::OnePass if start < self.order.n => Some((start, end.min(self.order.n))),
            Mode::OnePass => None,
        }
    }

    /// Hand batches to the workers until `prefetch` are ahead of the consumer.
    fn top_up(&mut self) {
        while self.issued_end < self.next_batch + self.prefetch {
            let Some((a, b)) = self.batch_range(self.issued_end) else {
                return;
            };
            let Some(jobs) = self.pool.as_ref().and_then(|p| p.jobs.as_ref()) else {
                return;
            };
            for pos in a..b {
                let (epoch, index) = self.order.locate(pos);
                // A failed send means every worker is gone; next() reports it.
                let _ = jobs.send(Job { pos, epoch, index });
            }
            self.issued_end += 1;
        }
    }

    /// The finished item at `pos`, from the workers or decoded here.
    fn item(&mut self, pos: u64) -> Result<Done, Problem> {
        let Some(pool) = &self.pool else {
            let (epoch, index) = self.order.locate(pos);
            return Ok(self.work.run(&Job { pos, epoch, index }));
        };
        loop {
            if let Some(d) = self.pending.remove(&pos) {
                return Ok(d);
            }
            match pool.results.recv() {
                Ok(d) => {
                    self.pending.insert(d.pos, d);
                }
                Err(_) => {
                    return Err(Problem::new(
                        ProblemKind::BadRecord,
                        "<loader>",
                        "the loader's worker threads stopped",
                    ));
                }
            }
        }
    }

    /// Stop the workers (after their current item) and wait for them.
    fn shutdown(&mut self) {
        if let Some(mut pool) = self.pool.take() {
            self.work.stop.store(true, Ordering::Relaxed);
            pool.jobs = None;
            for h in pool.handles {
                let _ = h.join();
            }
        }
        self.pending.clear();
    }

    fn fail(&mut self, p: Problem) -> Option<Result<Batch, Problem>> {
        self.state = State::Ended;
        self.shutdown();
        Some(Err(p))
    }
}

fn spawn_pool(work: &Arc<Work>, workers: usize) -> Pool {
    let (job_tx, job_rx) = channel::<Job>();
    let (done_tx, done_rx) = channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let handles = (0..workers)
        .map(|k| {
            let (work, job_rx, done_tx) = (work.clone(), job_rx.clone(), done_tx.clone());
            std::thread::Builder::new()
                .name(format!("mrcnn-loader-{k}"))
                .spawn(move || {
                    loop {
                        if work.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        // Only one worker waits in recv(); the others wait for the lock.
                        let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { break };
                        if work.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if done_tx.send(work.run(&job)).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn a loader thread")
        })
        .collect();
    Pool {
        jobs: Some(job_tx),
        results: done_rx,
        handles,
    }
}

impl Iterator for BatchStream {
    type Item = Result<Batch, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        match std::mem::replace(&mut self.state, State::Running) {
            State::Running => {}
            State::Ended => {
                self.state = State::Ended;
                return None;
            }
            State::Refused(p) => {
                self.state = State::Ended;
                return Some(Err(p));
            }
        }
        let iteration = self.next_batch;
        let Some((a, b)) = self.batch_range(iteration) else {
            self.state = State::Ended;
            self.shutdown();
            return None;
        };
        let mut batch = Batch {
            iteration,
            epoch: 0,
            indices: Vec::new(),
            samples: Vec::new(),
            skipped: Vec::new(),
        };
        for pos in a..b {
            let done = match self.item(pos) {
                Ok(d) => d,
                Err(p) => return self.fail(p),
            };
            if pos == a {
                batch.epoch = done.epoch;
            }
            match done.result {
                Ok(s) => {
                    batch.indices.push(done.index);
                    batch.samples.push(s);
                }
                Err(p) => match self.policy {
                    OnBadSample::Error => return self.fail(p),
                    OnBadSample::Skip => batch.skipped.push(p),
                },
            }
        }
        self.next_batch += 1;
        self.top_up();
        Some(Ok(batch))
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        self.shutdown();
    }
}
