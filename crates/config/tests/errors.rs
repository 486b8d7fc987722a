//! The error messages: one line each, naming the file (or --set argument) and the dotted key.
#![allow(clippy::result_large_err)]

mod common;

use common::{Dir, MODEL, err};
use mrcnn_config::{ConfigError, DEVICE_NAMES, Origin};

#[test]
fn base_cycle_is_an_error_naming_the_files() {
    let d = Dir::new();
    let a = d.write("a.toml", &format!("base = \"b.toml\"\n{MODEL}"));
    d.write("b.toml", "base = \"c.toml\"\n");
    d.write("c.toml", "base = \"a.toml\"\n");
    let e = err(&a, &[]);
    assert!(matches!(e, ConfigError::BaseCycle { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("`base` cycle"), "{msg}");
    for f in ["a.toml ->", "b.toml ->", "c.toml -> "] {
        assert!(msg.contains(f), "{msg}");
    }
    assert!(msg.ends_with("a.toml"), "{msg}");

    let s = d.write("self.toml", "base = \"self.toml\"\n");
    assert!(matches!(err(&s, &[]), ConfigError::BaseCycle { .. }));
}

#[test]
fn missing_files() {
    let d = Dir::new();
    let msg = err(&d.0.path().join("nope.toml"), &[]).to_string();
    assert!(msg.contains("nope.toml: cannot read"), "{msg}");
    let p = d.write("x.toml", "base = \"gone.toml\"\n");
    let msg = err(&p, &[]).to_string();
    assert!(msg.contains("gone.toml (the `base` of "), "{msg}");
    assert!(msg.contains("x.toml): cannot read"), "{msg}");
}

#[test]
fn set_without_equals_names_the_argument() {
    let d = Dir::new();
    let p = d.write("x.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let e = err(&p, &["solver.base_lr"]);
    assert!(matches!(e, ConfigError::BadSet { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("--set solver.base_lr: expected KEY=VALUE"),
        "{e}"
    );
    let e = err(&p, &["solver..x=1"]);
    assert!(e.to_string().starts_with("--set solver..x=1: "), "{e}");
}

#[test]
fn unknown_keys_suggest_the_nearest() {
    let d = Dir::new();
    let p = d.write(
        "configs/my.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nbase_rl = 0.01\n"),
    );
    let e = err(&p, &[]);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: unknown key `solver.base_rl`; did you mean `solver.base_lr`?",
            p.display()
        )
    );
    assert_eq!(e.key(), Some("solver.base_rl"));

    // Top level.
    let p = d.write(
        "top.toml",
        &format!("sed = 3\n{MODEL}[solver]\nmax_iter = 10\n"),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!("{}: unknown key `sed`; did you mean `seed`?", p.display())
    );
    // A misspelt section.
    let p = d.write("sec.toml", &format!("{MODEL}[solvr]\nmax_iter = 10\n"));
    assert!(
        err(&p, &[])
            .to_string()
            .ends_with(": unknown key `solvr`; did you mean `solver`?")
    );
    // Deeper.
    let p = d.write(
        "deep.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\n[dataset.mask_folder]\nval_fracton = 0.1\n"),
    );
    assert!(err(&p, &[]).to_string().ends_with(
        ": unknown key `dataset.mask_folder.val_fracton`; did you mean \
         `dataset.mask_folder.val_fraction`?"
    ));
    // Inside an array of tables.
    let p = d.write(
        "rules.toml",
        &format!(
            "{MODEL}[solver]\nmax_iter = 10\n[[dataset.mask_folder.class_rules]]\n\
             pattern = \"a*\"\nclas = \"cat\"\n"
        ),
    );
    assert!(err(&p, &[]).to_string().ends_with(
        ": unknown key `dataset.mask_folder.class_rules[0].clas`; did you mean \
         `dataset.mask_folder.class_rules[0].class`?"
    ));
    // A key of another section.
    let p = d.write(
        "moved.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nhflip_prob = 0.2\n"),
    );
    assert!(
        err(&p, &[])
            .to_string()
            .ends_with(": unknown key `solver.hflip_prob`; did you mean `input.hflip_prob`?")
    );
    // A top-level key written after a section header (a TOML gotcha).
    let p = d.write(
        "late.toml",
        &format!("{MODEL}seed = 1\n[solver]\nmax_iter = 10\n"),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!(
            "{}: unknown key `model.seed`; did you mean `seed`? (top-level keys go before the \
             first [section] header)",
            p.display()
        )
    );
    // Nothing close: no suggestion.
    let p = d.write(
        "far.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nzzzzzz = 1\n"),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!("{}: unknown key `solver.zzzzzz`", p.display())
    );
}

#[test]
fn unknown_key_in_a_base_names_the_base() {
    let d = Dir::new();
    let base = d.write(
        "base.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\n[loader]\nwrokers = 4\n"),
    );
    let p = d.write("exp.toml", "base = \"base.toml\"\nseed = 1\n");
    let e = err(&p, &[]);
    assert!(
        matches!(&e, ConfigError::UnknownKey { origin: Origin::File(f), .. } if *f == base),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: unknown key `loader.wrokers`; did you mean `loader.workers`?",
            base.display()
        )
    );
}

#[test]
fn unknown_key_via_set_names_the_argument() {
    let d = Dir::new();
    let p = d.write("x.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    assert_eq!(
        err(&p, &["solver.base_rl=0.1"]).to_string(),
        "--set solver.base_rl=0.1: unknown key `solver.base_rl`; did you mean `solver.base_lr`?"
    );
    assert_eq!(
        err(&p, &["chekpoint.period=5"]).to_string(),
        "--set chekpoint.period=5: unknown key `chekpoint`; did you mean `checkpoint`?"
    );
}

#[test]
fn wrong_types_name_the_path() {
    let d = Dir::new();
    let p = d.write(
        "configs/my.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nbase_lr = \"abc\"\n"),
    );
    let e = err(&p, &[]);
    assert!(matches!(e, ConfigError::WrongType { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: `solver.base_lr` must be a float, found a string (\"abc\")",
            p.display()
        )
    );

    let cases = [
        (
            "[solver]\nmax_iter = 10\nimages_per_batch = -1\n",
            "`solver.images_per_batch` must be a non-negative integer, found an integer (-1)",
        ),
        (
            "[solver]\nmax_iter = 2.5\n",
            "`solver.max_iter` must be a non-negative integer, found a float (2.5)",
        ),
        (
            "[solver]\nmax_iter = 10\nsteps = \"100\"\n",
            "`solver.steps` must be an array, found a string (\"100\")",
        ),
        (
            "[solver]\nmax_iter = 10\nsteps = [100, \"x\"]\n",
            "`solver.steps[1]` must be a non-negative integer, found a string (\"x\")",
        ),
        (
            "seed = true\n[solver]\nmax_iter = 10\n",
            "`seed` must be a non-negative integer, found a boolean (true)",
        ),
        (
            "eval = 3\n[solver]\nmax_iter = 10\n",
            "`eval` must be a table, found an integer (3)",
        ),
        (
            "[solver]\nmax_iter = 10\n[dataset]\ntrain = \"a.json\"\n",
            "`dataset.train` must be an array, found a string (\"a.json\")",
        ),
        (
            "[solver]\nmax_iter = 10\n[input]\nhflip_prob = \"half\"\n",
            "`input.hflip_prob` must be a float, found a string (\"half\")",
        ),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let p = d.write(&format!("t{i}.toml"), &format!("{body}{MODEL}"));
        let msg = err(&p, &[]).to_string();
        assert_eq!(msg, format!("{}: {want}", p.display()), "case {i}");
    }

    // From --set.
    let p = d.write("ok.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    assert_eq!(
        err(&p, &["solver.base_lr=fast"]).to_string(),
        "--set solver.base_lr=fast: `solver.base_lr` must be a float, found a string (\"fast\")"
    );
    assert_eq!(
        err(&p, &["model.overrides=3"]).to_string(),
        "--set model.overrides=3: `model.overrides` must be a table, found an integer (3)"
    );
    assert_eq!(
        err(&p, &["dataset.format=3"]).to_string(),
        "--set dataset.format=3: `dataset.format` must be a string, found an integer (3)"
    );
    // Replacing a table by a value through --set.
    assert_eq!(
        err(&p, &["solver=1"]).to_string(),
        "--set solver=1: `solver` must be a table, found an integer (1)"
    );
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    let d = Dir::new();
    let p = d.write(
        "x.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nschedule = \"cosin\"\n"),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!(
            "{}: `solver.schedule` must be one of \"multi-step\", \"cosine\", \"constant\", \
             found \"cosin\"; did you mean `cosine`?",
            p.display()
        )
    );
    let msg = err(&p, &["dataset.format=json"]).to_string();
    assert!(msg.starts_with("--set dataset.format=json: `dataset.format` must be one of \"coco\", \"mask-folder\", \"tfrecord\""), "{msg}");
}

#[test]
fn syntax_errors_give_line_and_column() {
    let d = Dir::new();
    let p = d.write("x.toml", "seed = 1\n[solver]\nbase_lr = = 0.1\n");
    let e = err(&p, &[]);
    let ConfigError::Syntax { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (3, 11), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:3:11: TOML syntax error: ", p.display())),
        "{e}"
    );
}

#[test]
fn missing_model_config() {
    let d = Dir::new();
    let p = d.write("x.toml", "[solver]\nmax_iter = 10\n");
    let e = err(&p, &[]);
    assert!(matches!(e, ConfigError::MissingKey { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: missing required key `model.config`; it names the architecture TOML, e.g. \
             `config = \"model_configs/mask_rcnn_R_50_FPN.toml\"` under `[model]`",
            p.display()
        )
    );
    // A required key of an array entry.
    let p = d.write(
        "r.toml",
        &format!(
            "{MODEL}[solver]\nmax_iter = 10\n[[dataset.mask_folder.class_rules]]\npattern = \"a\"\n"
        ),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!(
            "{}: missing required key `dataset.mask_folder.class_rules[0].class`",
            p.display()
        )
    );
}

#[test]
fn max_iter_xor_epochs() {
    let d = Dir::new();
    let neither = d.write("n.toml", MODEL);
    let msg = err(&neither, &[]).to_string();
    assert_eq!(
        msg,
        format!(
            "{}: set exactly one of `solver.max_iter` (iterations) and `solver.epochs` (passes \
             over the train set); neither is set",
            neither.display()
        )
    );
    let base = d.write("b.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let both = d.write("both.toml", "base = \"b.toml\"\n[solver]\nepochs = 2\n");
    let msg = err(&both, &[]).to_string();
    assert_eq!(
        msg,
        format!(
            "{}: set exactly one of `solver.max_iter` and `solver.epochs`, not both (max_iter \
             from {}, epochs from {})",
            both.display(),
            base.display(),
            both.display()
        )
    );
    // Also through --set.
    let msg = err(&base, &["solver.epochs=1"]).to_string();
    assert!(
        msg.starts_with("--set solver.epochs=1: set exactly one"),
        "{msg}"
    );
}

#[test]
fn value_checks() {
    let d = Dir::new();
    let p = d.write("x.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let device_cases = [
        (
            vec!["device=cuda".to_string()],
            format!("--set device=cuda: `device`: unknown device \"cuda\": use {DEVICE_NAMES}"),
        ),
        (
            vec!["devices=[\"wgpu:0\", \"gpu1\"]".to_string()],
            format!(
                "--set devices=[\"wgpu:0\", \"gpu1\"]: `devices[1]`: unknown device \"gpu1\": use \
                 {DEVICE_NAMES}"
            ),
        ),
        (
            vec!["devices=[\"wgpu:1\", \"wgpu:discrete:1\"]".to_string()],
            "--set devices=[\"wgpu:1\", \"wgpu:discrete:1\"]: `devices[1]` = \"wgpu:discrete:1\" \
             repeats `devices[0]`: each device of a data-parallel run must be a different device"
                .to_string(),
        ),
        (
            vec![
                "devices=[\"wgpu:0\", \"wgpu:1\"]".to_string(),
                "solver.images_per_batch=3".to_string(),
            ],
            "--set solver.images_per_batch=3: `solver.images_per_batch` = 3 does not split over \
             the 2 `devices`: make it a multiple of 2 (each device takes images_per_batch / 2 \
             images)"
                .to_string(),
        ),
    ];
    for (args, want) in device_cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(err(&p, &args).to_string(), want);
    }
    let cases: [(&[&str], &str); 7] = [
        (
            &["solver.images_per_batch=0"],
            "--set solver.images_per_batch=0: `solver.images_per_batch` must be at least 1, found 0",
        ),
        (
            &["input.hflip_prob=1.5"],
            "--set input.hflip_prob=1.5: `input.hflip_prob` must be a probability in [0, 1], found 1.5",
        ),
        (
            &["solver.steps=[300, 200]"],
            "--set solver.steps=[300, 200]: `solver.steps` must be strictly increasing iteration numbers, found [300, 200] (300 then 200)",
        ),
        (
            &["solver.max_iter=0"],
            "--set solver.max_iter=0: `solver.max_iter` must be at least 1, found 0",
        ),
        (
            &["solver.max_iter=[]"],
            "--set solver.max_iter=[]: `solver.max_iter` must be a non-negative integer, found an array ([])",
        ),
        (
            &["dataset.format=mask-folder", "dataset.train=[\"a\", \"b\"]"],
            "--set dataset.train=[\"a\", \"b\"]: `dataset.train` must name one root folder for format \"mask-folder\", found 2 entries",
        ),
        (
            &["dataset.mask_folder.val_fraction=1.0"],
            "--set dataset.mask_folder.val_fraction=1.0: `dataset.mask_folder.val_fraction` must be in [0, 1), found 1",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(err(&p, args).to_string(), want);
    }
    // And in a file, naming the file.
    let f = d.write(
        "dev.toml",
        &format!("device = \"gpu\"\n{MODEL}[solver]\nmax_iter = 10\n"),
    );
    assert!(
        err(&f, &[])
            .to_string()
            .starts_with(&format!("{}: `device`: unknown device", f.display()))
    );
}
