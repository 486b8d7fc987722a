//! `train_config`, the input readers and `eval_config` as the experiment TOML.

use std::path::Path;

use super::walk::{EMPTY, R, Walk};
use super::{NoteKind, Toml, float, join, show, src, string};
use crate::text_format::{Field, Message, Scalar, Value};

impl<'a> Walk<'a> {
    /// `train_config`, the input readers and `eval_config` as the experiment TOML (with
    /// `solver.weight_decay = 0` when `weight_decay` gives its comment); the label map.
    pub(super) fn experiment(
        &mut self,
        root: &'a Message,
        out_dir: &Path,
        weight_decay: Option<&str>,
        t: &mut Toml,
    ) -> R<Option<LabelMap>> {
        let empty: &'a Message = &EMPTY;
        let run = out_dir
            .file_name()
            .map_or("imported".into(), |n| n.to_string_lossy());
        t.set(
            "output_dir",
            &string(&format!("runs/{run}")),
            "the run folder",
        );
        t.section("model");
        let config = out_dir.join("model.toml");
        let why = "written with this file; relative paths are relative to the current directory";
        t.set("config", &string(&config.to_string_lossy()), why);
        let at = "train_config";
        let (tc, tc_line) = self.sub(root, "", at)?.unwrap_or((empty, 1));
        if let Some((ck, l)) = self.text(tc, at, "fine_tune_checkpoint")?
            && !ck.is_empty()
        {
            t.set(
                "weights",
                &string(&ck),
                &src("fine_tune_checkpoint", Some(l)),
            );
            t.set("weights_format", "\"tf-od-api\"", "an OD API checkpoint");
        }
        let classif = "a classification (ImageNet) checkpoint: weights_format tf-od-api reads \
                       the OD API's detection checkpoints";
        let det = "a detection checkpoint, which weights_format tf-od-api reads";
        if let Some((d, l)) = self.flag(tc, at, "from_detection_checkpoint")? {
            let kind = if d {
                NoteKind::Ignored
            } else {
                NoteKind::NotTranslated
            };
            let path = join(at, "from_detection_checkpoint");
            self.note(l, path, d.to_string(), kind, if d { det } else { classif });
        }
        if let Some((ty, l)) = self.text(tc, at, "fine_tune_checkpoint_type")? {
            let d = ty == "detection";
            let kind = if d {
                NoteKind::Ignored
            } else {
                NoteKind::NotTranslated
            };
            let path = join(at, "fine_tune_checkpoint_type");
            self.note(
                l,
                path,
                format!("{ty:?}"),
                kind,
                if d { det } else { classif },
            );
        }

        t.section("dataset");
        t.set("format", "\"tfrecord\"", "tf_record_input_reader");
        let train = self.reader(root, "train_input_reader", 0)?;
        let val = self.reader(root, "eval_input_reader", 0)?;
        let mut i = 1;
        while self.reader(root, "eval_input_reader", i)?.is_some() {
            i += 1;
        }
        let (train, val) = (train.unwrap_or_default(), val.unwrap_or_default());
        let from = src("train_input_reader input_path", train.line);
        t.set("train", &strings(&train.paths), &from);
        let from = src("eval_input_reader input_path", val.line);
        t.set("val", &strings(&val.paths), &from);
        let label_map = match (train.label_map, val.label_map) {
            (Some(a), Some(b)) if a.path != b.path => {
                let why = "the experiment has one label map, the train reader's";
                let v = format!("{:?}", b.path);
                self.note(b.line, b.field, v, NoteKind::NotTranslated, why);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        if let Some(lm) = &label_map {
            let from = src(&lm.field, Some(lm.line));
            t.set("label_map", &string(&lm.path), &from);
        }

        t.section("solver");
        let (batch, batch_src) = self.count(tc, at, "batch_size", Some(32), tc_line)?;
        t.set("images_per_batch", &batch.to_string(), &batch_src);
        self.optimizer(tc, at, t)?;
        if let Some(why) = weight_decay {
            t.set("weight_decay", "0.0", why);
        }
        match self.count(tc, at, "num_steps", Some(0), tc_line)? {
            (0, _) => {
                let path = join(at, "num_steps");
                let why = "the OD API then trains until stopped; solver.max_iter = 100000 is \
                           written as a placeholder: set it";
                self.note(
                    tc_line,
                    path,
                    "0 (not set)".into(),
                    NoteKind::NotTranslated,
                    why,
                );
                t.set("max_iter", "100000", "placeholder: num_steps is not set");
            }
            (n, s) => t.set("max_iter", &n.to_string(), &s),
        }
        if let Some((c, l)) = self.num(tc, at, "gradient_clipping_by_norm")?
            && c > 0.0
        {
            t.set(
                "clip_grad_norm",
                &float(c),
                &src("gradient_clipping_by_norm", Some(l)),
            );
        }

        t.section("input");
        let mut flip = None;
        let aug_at = &join(at, "data_augmentation_options");
        for f in tc
            .fields
            .iter()
            .filter(|f| f.name == "data_augmentation_options")
        {
            let Value::Message(aug) = &f.value else {
                continue;
            };
            let name = "random_horizontal_flip";
            if flip.is_none()
                && let Some(h) = self.last(aug, aug_at, name)
                && let Value::Message(hm) = &h.value
            {
                let (p, s) = self.num_or(hm, &join(aug_at, name), "probability", 0.5)?;
                if hm.fields.is_empty() {
                    self.seen.insert(h);
                }
                flip = Some((p, format!("line {}: {name}, {s}", h.line)));
            }
            let why = "an augmentation this project does not have ([input] has hflip_prob and \
                       color_jitter)";
            self.leaves(f, at, NoteKind::NotTranslated, why);
        }
        let (p, s) = flip.unwrap_or((0.0, "no random_horizontal_flip".into()));
        t.set("hflip_prob", &float(p), &s);

        if let Some((ec, _)) = self.sub(root, "", "eval_config")? {
            let why = "the OD API's model_main evaluates the whole eval input; eval.max_images \
                       caps it here";
            self.named(
                ec,
                "eval_config",
                &["num_examples"],
                NoteKind::NotTranslated,
                why,
            );
            let why = "evaluation here is COCO box and mask AP on dataset.val ([eval])";
            self.rest(ec, "eval_config", NoteKind::NotTranslated, why);
        }
        self.rest(tc, at, NoteKind::NotTranslated, "no key of the experiment");
        Ok(label_map)
    }

    /// The `i`-th `name` reader, if there is one (readers after the first eval reader are
    /// noted and read as empty).
    pub(super) fn reader(&mut self, root: &'a Message, name: &str, i: usize) -> R<Option<Reader>> {
        let Some(f) = root.fields.iter().filter(|f| f.name == name).nth(i) else {
            return Ok(None);
        };
        let Value::Message(r) = &f.value else {
            return self.refuse(f.line, name, Some(show(&f.value)), "expected { ... }");
        };
        if i > 0 {
            let why = "the first eval_input_reader is the validation set";
            self.leaves(f, "", NoteKind::NotTranslated, why);
            return Ok(Some(Reader::default()));
        }
        let mut reader = Reader::default();
        match self.sub(r, name, "tf_record_input_reader")? {
            Some((tf, _)) => {
                let at = &join(name, "tf_record_input_reader");
                for (s, l) in self.all_scalars(tf, at, "input_path")? {
                    let Scalar::Str(p) = s else {
                        let v = Some(show(&Value::Scalar(s.clone())));
                        return self.refuse(l, &join(at, "input_path"), v, "expected a string");
                    };
                    reader.paths.push(p.clone());
                    reader.line = reader.line.or(Some(l));
                }
            }
            None => {
                let why = "no tf_record_input_reader: the dataset list is empty";
                self.note(
                    f.line,
                    name.into(),
                    "{ ... }".into(),
                    NoteKind::NotTranslated,
                    why,
                );
            }
        }
        let field = join(name, "label_map_path");
        reader.label_map = self
            .text(r, name, "label_map_path")?
            .map(|(path, line)| LabelMap { field, path, line });
        let masks = "the TFRecord reader reads the masks the records hold, PNG or numerical";
        self.named(
            r,
            name,
            &["load_instance_masks", "mask_type"],
            NoteKind::Ignored,
            masks,
        );
        if let Some((true, l)) = self.flag(r, name, "use_display_name")? {
            let path = join(name, "use_display_name");
            let why = "the TFRecord reader matches class texts with the label map's `name`";
            self.note(l, path, "true".into(), NoteKind::NotTranslated, why);
        }
        let why = "an input-pipeline setting with no counterpart ([loader] has workers and \
                   prefetch)";
        self.rest(r, name, NoteKind::NotTranslated, why);
        Ok(Some(reader))
    }

    /// `train_config.optimizer` as `solver.momentum` and the learning-rate keys.
    pub(super) fn optimizer(&mut self, tc: &'a Message, at: &str, t: &mut Toml) -> R<()> {
        let Some((opt, _)) = self.sub(tc, at, "optimizer")? else {
            return Ok(());
        };
        let at = &join(at, "optimizer");
        if let Some((mo, _)) = self.sub(opt, at, "momentum_optimizer")? {
            let at = &join(at, "momentum_optimizer");
            let (m, s) = self.num_or(mo, at, "momentum_optimizer_value", 0.9)?;
            t.set("momentum", &float(m), &s);
            if let Some((lr, _)) = self.sub(mo, at, "learning_rate")? {
                self.learning_rate(lr, &join(at, "learning_rate"), t)?;
            }
        }
        match self.flag(opt, at, "use_moving_average")? {
            Some((false, l)) => {
                let why = "no moving average of the weights, as here";
                let path = join(at, "use_moving_average");
                self.note(l, path, "false".into(), NoteKind::Ignored, why);
            }
            Some((true, l)) => {
                let why = "the solver keeps no moving average of the weights";
                let path = join(at, "use_moving_average");
                self.note(l, path, "true".into(), NoteKind::NotTranslated, why);
            }
            None => {}
        }
        let why = "the solver is SGD with momentum (momentum_optimizer); other optimisers are \
                   not implemented and the solver's defaults stay";
        self.rest(opt, at, NoteKind::NotTranslated, why);
        Ok(())
    }

    /// A `learning_rate` message as `base_lr`, the warm-up and the multi-step decay.
    pub(super) fn learning_rate(&mut self, lr: &'a Message, at: &str, t: &mut Toml) -> R<()> {
        if let Some((c, _)) = self.sub(lr, at, "constant_learning_rate")? {
            let (v, s) = self.num_or(
                c,
                &join(at, "constant_learning_rate"),
                "learning_rate",
                0.002,
            )?;
            t.set("base_lr", &float(v), &s);
            t.set("schedule", "\"constant\"", "constant_learning_rate");
            t.set("warmup_iters", "0", "no warm-up");
        } else if let Some((ms, _)) = self.sub(lr, at, "manual_step_learning_rate")? {
            let at = &join(at, "manual_step_learning_rate");
            let (initial, initial_src) = self.num_or(ms, at, "initial_learning_rate", 0.002)?;
            let warmup = self.flag(ms, at, "warmup")?;
            let warmup_src = match warmup {
                Some((_, l)) => format!("line {l}: warmup"),
                None => "no warm-up (warmup: false, the default)".into(),
            };
            let warmup = warmup.is_some_and(|w| w.0);
            let s_at = &join(at, "schedule");
            let mut sched = Vec::new();
            let fields: Vec<&'a Field> =
                ms.fields.iter().filter(|f| f.name == "schedule").collect();
            for f in &fields {
                let Value::Message(s) = &f.value else {
                    return self.refuse(f.line, s_at, Some(show(&f.value)), "expected { ... }");
                };
                let (step, _) = self.count(s, s_at, "step", Some(0), f.line)?;
                sched.push((step, self.num_or(s, s_at, "learning_rate", 0.002)?.0));
            }
            let from = "manual_step_learning_rate";
            match step_schedule(initial, &sched, warmup) {
                Ok(s) => {
                    let base_src = if s.base_lr == initial {
                        initial_src
                    } else {
                        format!("{from}.schedule")
                    };
                    t.set("base_lr", &float(s.base_lr), &base_src);
                    let (iters, factor) = s.warmup.unwrap_or((0, 1.0));
                    t.set("warmup_iters", &iters.to_string(), &warmup_src);
                    t.set("warmup_factor", &float(round_sig(factor)), &warmup_src);
                    t.set("schedule", "\"multi-step\"", from);
                    let steps: Vec<String> = s.steps.iter().map(|s| s.to_string()).collect();
                    t.set(
                        "steps",
                        &format!("[{}]", steps.join(", ")),
                        &format!("{from}.schedule"),
                    );
                    if let Some(g) = s.gamma {
                        t.set("gamma", &float(g), &format!("{from}.schedule rates"));
                    }
                }
                Err(why) => {
                    t.set("base_lr", &float(initial), &initial_src);
                    t.set("warmup_iters", "0", "the schedule is not translated");
                    t.set("schedule", "\"constant\"", "the schedule is not translated");
                    for (f, (step, rate)) in fields.iter().zip(&sched) {
                        let v = format!("{{ step: {step} learning_rate: {rate} }}");
                        self.note(f.line, s_at.clone(), v, NoteKind::NotTranslated, &why);
                    }
                }
            }
        }
        let why = "only constant_learning_rate and manual_step_learning_rate are translated; \
                   the solver's learning-rate defaults stay";
        self.rest(lr, at, NoteKind::NotTranslated, why);
        Ok(())
    }
}

/// A label map path as the pipeline gives it.
#[derive(Debug, Clone)]
pub(super) struct LabelMap {
    /// `train_input_reader.label_map_path` or `eval_input_reader.label_map_path`.
    pub(super) field: String,
    pub(super) path: String,
    pub(super) line: usize,
}

/// What an input reader says.
#[derive(Debug, Default)]
pub(super) struct Reader {
    paths: Vec<String>,
    /// The line of the first input path.
    line: Option<usize>,
    label_map: Option<LabelMap>,
}

fn strings(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
    )
}

/// `solver` values of a `manual_step_learning_rate`.
#[derive(Debug, PartialEq)]
struct StepSchedule {
    base_lr: f64,
    warmup: Option<(usize, f64)>,
    steps: Vec<usize>,
    gamma: Option<f64>,
}

/// The OD API's `manual_stepping` (rates `[initial] + schedule rates`, boundaries the schedule
/// steps; the last boundary at 0 sets the first rate; with `warmup`, linear from `initial` to the
/// first rate over the first boundary) as a warm-up and a multi-step decay by one `gamma`;
/// `Err` says why it is not one.
fn step_schedule(
    initial: f64,
    sched: &[(usize, f64)],
    warmup: bool,
) -> Result<StepSchedule, String> {
    let (base_lr, warm, rest) = match sched.split_first() {
        Some((&(b, r), rest)) if warmup && b > 0 => (r, Some((b, initial / r)), rest),
        _ => {
            let at0 = sched.iter().take_while(|s| s.0 == 0).count();
            let base = sched[..at0].last().map_or(initial, |s| s.1);
            (base, None, &sched[at0..])
        }
    };
    if warm.is_some_and(|w| !(0.0..=1.0).contains(&w.1)) {
        return Err("the warm-up starts above the learning rate it reaches".into());
    }
    let steps: Vec<usize> = rest.iter().map(|s| s.0).collect();
    if steps.windows(2).any(|w| w[0] >= w[1]) || steps.first() == Some(&0) {
        return Err("the schedule's steps do not increase".into());
    }
    let mut prev = base_lr;
    let factors: Vec<f64> = rest
        .iter()
        .map(|s| s.1 / std::mem::replace(&mut prev, s.1))
        .collect();
    let gamma = factors.first().map(|g| round_sig(*g));
    if let Some(g) = gamma
        && factors.iter().any(|f| (f - g).abs() > 1e-6 * g.abs())
    {
        return Err(format!(
            "the solver decays by one factor (solver.gamma); this schedule's factors are {:?}",
            factors.iter().map(|f| round_sig(*f)).collect::<Vec<_>>()
        ));
    }
    Ok(StepSchedule {
        base_lr,
        warmup: warm,
        steps,
        gamma,
    })
}

/// `x` to 10 significant digits (0.09999999999999999 -> 0.1).
fn round_sig(x: f64) -> f64 {
    format!("{x:.9e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_step_schedules() {
        let s = step_schedule(3e-4, &[(0, 3e-4), (900000, 3e-5), (1200000, 3e-6)], false);
        let want = StepSchedule {
            base_lr: 3e-4,
            warmup: None,
            steps: vec![900000, 1200000],
            gamma: Some(0.1),
        };
        assert_eq!(s.unwrap(), want);
        let s = step_schedule(1e-4, &[(500, 1e-3), (1000, 1e-4)], true).unwrap();
        assert_eq!(
            (s.base_lr, s.warmup, s.gamma),
            (1e-3, Some((500, 0.1)), Some(0.1))
        );
        let e = step_schedule(1e-3, &[(10, 1e-4), (20, 5e-5)], false).unwrap_err();
        assert!(e.contains("[0.1, 0.5]"), "{e}");
        assert!(step_schedule(1e-3, &[], false).unwrap().steps.is_empty());
    }
}
