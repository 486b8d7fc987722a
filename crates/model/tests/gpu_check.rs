//! The GPU check's one binary (`tools/gpu/`): the parity tests of this crate (stage by stage and
//! training, against torchvision's fixtures) and the ResNet-101-FPN benchmarks, in one
//! executable that is built here and carried to a GPU machine without a Rust toolchain. Not run
//! by `cargo test` (`test = false` in Cargo.toml): the parity tests already run in their own
//! binaries, and the benchmarks take minutes.
//!
//! ```sh
//! MRCNN_TEST_WGPU=1 MRCNN_TEST_WGPU_TRAIN=1 gpu_check --test-threads 1     # parity, wgpu required
//! MRCNN_BENCH="infer DIR 800x1216 wgpu 3" gpu_check --ignored --exact bench --nocapture
//! MRCNN_BENCH="train --size 800x1216 --device wgpu --repeats 3" gpu_check --ignored --exact bench --nocapture
//! ```

// parity.rs and train_parity.rs each declare `mod common;`, as in their own binaries.
#![allow(clippy::duplicate_mod)]

#[path = "parity.rs"]
mod parity;
#[path = "train_parity.rs"]
mod train_parity;

#[allow(dead_code)]
#[path = "../examples/bench_inference.rs"]
mod bench_inference;
#[allow(dead_code)]
#[path = "../examples/bench_train_step.rs"]
mod bench_train_step;

/// `MRCNN_BENCH="infer ARGS"` or `"train ARGS"`: the arguments of the `bench_inference` or
/// `bench_train_step` example; prints its JSON line.
#[test]
#[ignore = "a benchmark: run by tools/gpu/run.sh"]
fn bench() {
    let spec = std::env::var("MRCNN_BENCH")
        .expect("MRCNN_BENCH=\"infer DIR HxW DEVICE REPEATS\" or \"train --size HxW ...\"");
    let args: Vec<String> = spec.split_whitespace().map(str::to_string).collect();
    let line = match args.first().map(String::as_str) {
        Some("infer") => bench_inference::run(&args[1..]),
        Some("train") => bench_train_step::run(&args[1..]),
        _ => panic!("MRCNN_BENCH must start with infer or train, not {spec:?}"),
    };
    println!("BENCH {line}");
}
