//! Link-time option for the `mrcnn` binary only.
//!
//! Identical code folding: Burn's generic tensor code is instantiated once per crate that uses it,
//! and many of those copies are byte-for-byte the same machine code. `--icf=all` lets the linker
//! keep one, about a tenth of the binary (BENCHMARKS.md, "Binary size and first build"). Only
//! where the linker is known to be LLD: rustc's default on x86-64 Linux since 1.90. Other targets
//! link as before. `MRCNN_NO_ICF=1` turns it off (for a custom linker that lacks the option).

fn main() {
    println!("cargo:rerun-if-env-changed=MRCNN_NO_ICF");
    let target = std::env::var("TARGET").unwrap_or_default();
    let disabled = std::env::var_os("MRCNN_NO_ICF").is_some_and(|v| v != "0");
    if target == "x86_64-unknown-linux-gnu" && !disabled {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
