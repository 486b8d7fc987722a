//! `model.faster_rcnn` as the C4 model config's keys.

use super::walk::{EMPTY, R, Walk};
use super::{HYPERPARAMS, NoteKind, Toml, float, floats, join, src};
use crate::text_format::{Message, Scalar, Value};

impl<'a> Walk<'a> {
    /// `model.faster_rcnn` as the model TOML's keys after `architecture`, and the number of
    /// foreground classes.
    pub(super) fn model(&mut self, root: &'a Message) -> R<Model> {
        let Some((model, line)) = self.sub(root, "", "model")? else {
            return self.refuse(1, "model", None, "the pipeline has no model { ... }");
        };
        let why = "only `faster_rcnn` with a mask_rcnn_box_predictor (the OD API's Mask R-CNN, \
                   this project's C4 model) is translated";
        let (f, line) = self.oneof(model, "model", line, "faster_rcnn", why)?;
        let at = "model.faster_rcnn";
        let backbone = self.extractor(f, at, line)?;
        let why = "the C4 model's second stage is a mask_rcnn_box_predictor";
        let (bp, bp_line) = self.required(f, at, "second_stage_box_predictor", line)?;
        let bp_at = &join(at, "second_stage_box_predictor");
        let (mp, mp_line) = self.oneof(bp, bp_at, bp_line, "mask_rcnn_box_predictor", why)?;
        let mp_at = &join(bp_at, "mask_rcnn_box_predictor");
        let why = "a Faster R-CNN without masks: this project's models are Mask R-CNNs (set \
                   predict_instance_masks: true, default false, to use it)";
        match self.flag(mp, mp_at, "predict_instance_masks")? {
            Some((true, _)) => {}
            Some((false, l)) => {
                let path = join(mp_at, "predict_instance_masks");
                return self.refuse(l, &path, Some("false".into()), why);
            }
            None => return self.refuse(mp_line, mp_at, None, why),
        }
        let (resizer, r_line) = self.required(f, at, "image_resizer", line)?;
        let r_at = &join(at, "image_resizer");
        let why = "the C4 model resizes as keep_aspect_ratio_resizer does; other resizers are \
                   not implemented";
        let (kr, _) = self.oneof(resizer, r_at, r_line, "keep_aspect_ratio_resizer", why)?;
        let kr_at = &join(r_at, "keep_aspect_ratio_resizer");
        let (stages, _) = self.count(f, at, "number_of_stages", Some(2), line)?;
        if stages != 3 {
            let why = "the C4 Mask R-CNN is the OD API's three-stage model (masks of the final \
                       detections): set number_of_stages: 3 (default 2)";
            let l = f.get("number_of_stages").map_or(line, |g| g.line);
            return self.refuse(
                l,
                &join(at, "number_of_stages"),
                Some(stages.to_string()),
                why,
            );
        }

        let mut t = Toml(String::new());
        let (n, n_src) = self.count(f, at, "num_classes", None, line)?;
        if n == 0 {
            let l = f.get("num_classes").map_or(line, |g| g.line);
            let why = "at least one class is needed";
            return self.refuse(l, &join(at, "num_classes"), Some("0".into()), why);
        }
        t.set(
            "num_classes",
            &(n + 1).to_string(),
            &format!("{n_src} = {n}, + background"),
        );

        t.section("input");
        let (min, min_src) = self.count(kr, kr_at, "min_dimension", Some(600), r_line)?;
        let (max, max_src) = self.count(kr, kr_at, "max_dimension", Some(1024), r_line)?;
        t.set("min_size", &format!("[{min}]"), &min_src);
        t.set("max_size", &max.to_string(), &max_src);
        let from = format!("line {r_line}: keep_aspect_ratio_resizer");
        t.set("resizer", "\"tf_keep_aspect_ratio\"", &from);
        let pre = "FasterRCNNResnetV1FeatureExtractor.preprocess";
        t.set("format", "\"rgb255\"", pre);
        t.set("pixel_mean", "[123.68, 116.779, 103.939]", pre);
        t.set("pixel_std", "[1.0, 1.0, 1.0]", pre);
        t.set("size_divisible", "1", "no padding to a multiple");
        if let Some((m, l)) = self.text(kr, kr_at, "resize_method")?
            && m != "BILINEAR"
        {
            let why = "the model resizes with TF1's bilinear resize";
            self.note(
                l,
                join(kr_at, "resize_method"),
                m,
                NoteKind::NotTranslated,
                why,
            );
        }
        for (name, why) in [
            (
                "pad_to_max_dimension",
                "the batch is padded to its largest image only",
            ),
            ("convert_to_grayscale", "images are read in colour"),
        ] {
            if let Some((true, l)) = self.flag(kr, kr_at, name)? {
                self.note(
                    l,
                    join(kr_at, name),
                    "true".into(),
                    NoteKind::NotTranslated,
                    why,
                );
            }
        }

        t.section("backbone");
        t.set("depth", &backbone.depth.to_string(), &backbone.depth_src);
        t.set(
            "layout",
            "\"tf_slim\"",
            "TF-slim resnet_v1, the OD API's TF1 extractor",
        );
        t.set(
            "output_stride",
            &backbone.stride.to_string(),
            &backbone.stride_src,
        );
        t.set("norm_eps", "1e-5", "TF-slim's batch norm epsilon");
        t.set("norm_affine_trainable", "true", &backbone.bn_src);
        let freeze = self.freeze_variables(root)?;
        t.set("trainable_layers", "5", freeze);

        t.section("rpn");
        let (iou, iou_src) = self.num_or(f, at, "first_stage_nms_iou_threshold", 0.7)?;
        let (score, score_src) = self.num_or(f, at, "first_stage_nms_score_threshold", 0.0)?;
        let (props, props_src) = self.count(f, at, "first_stage_max_proposals", Some(300), line)?;
        t.set("nms_thresh", &float(iou), &iou_src);
        t.set("score_thresh", &float(score), &score_src);
        t.set("post_nms_top_n_test", &props.to_string(), &props_src);
        t.set("post_nms_top_n_train", &props.to_string(), &props_src);
        let coder = "FasterRcnnBoxCoder's scale factors";
        t.set("bbox_reg_weights", "[10.0, 10.0, 5.0, 5.0]", coder);

        t.section("roi_heads");
        let empty: &'a Message = &EMPTY;
        let pp_at = &join(at, "second_stage_post_processing");
        let (pp, pp_line) = self
            .sub(f, at, "second_stage_post_processing")?
            .unwrap_or((empty, line));
        let nms_at = &join(pp_at, "batch_non_max_suppression");
        let nms = self
            .sub(pp, pp_at, "batch_non_max_suppression")?
            .map_or(empty, |n| n.0);
        let (score, score_src) = self.num_or(nms, nms_at, "score_threshold", 0.0)?;
        let (iou, iou_src) = self.num_or(nms, nms_at, "iou_threshold", 0.6)?;
        let total = self.count(nms, nms_at, "max_total_detections", Some(100), pp_line)?;
        let per_class = self.count(nms, nms_at, "max_detections_per_class", Some(100), pp_line)?;
        t.set("score_thresh", &float(score), &score_src);
        t.set("nms_thresh", &float(iou), &iou_src);
        t.set("detections_per_img", &total.0.to_string(), &total.1);
        t.set("bbox_reg_weights", "[10.0, 10.0, 5.0, 5.0]", coder);
        let soft = "the C4 model's class scores are softmax probabilities";
        match self.text(pp, pp_at, "score_converter")? {
            Some((c, _)) if c == "SOFTMAX" => {}
            Some((c, l)) => {
                let path = join(pp_at, "score_converter");
                self.note(l, path, c, NoteKind::NotTranslated, soft);
            }
            None => {
                let (path, v) = (join(pp_at, "score_converter"), "IDENTITY (default)".into());
                self.note(pp_line, path, v, NoteKind::NotTranslated, soft);
            }
        }
        if let Some((s, l)) = self.num(pp, pp_at, "logit_scale")?
            && s != 1.0
        {
            let (path, why) = (join(pp_at, "logit_scale"), "the logits are not scaled");
            self.note(l, path, s.to_string(), NoteKind::NotTranslated, why);
        }

        t.section("c4");
        self.anchors(f, at, line, &mut t)?;
        for (key, name, default) in [
            (
                "rpn_conv_depth",
                "first_stage_box_predictor_depth",
                Some(512),
            ),
            (
                "rpn_conv_kernel_size",
                "first_stage_box_predictor_kernel_size",
                Some(3),
            ),
            ("rpn_atrous_rate", "first_stage_atrous_rate", Some(1)),
            ("initial_crop_size", "initial_crop_size", None),
            ("maxpool_kernel_size", "maxpool_kernel_size", None),
            ("maxpool_stride", "maxpool_stride", None),
        ] {
            let (v, s) = self.count(f, at, name, default, line)?;
            t.set(key, &v.to_string(), &s);
        }
        t.set(
            "max_detections_per_class",
            &per_class.0.to_string(),
            &per_class.1,
        );
        let (mh, mh_src) = self.count(mp, mp_at, "mask_height", Some(15), mp_line)?;
        let (mw, mw_src) = self.count(mp, mp_at, "mask_width", Some(15), mp_line)?;
        t.set(
            "mask_size",
            &format!("[{mh}, {mw}]"),
            &format!("{mh_src}, {mw_src}"),
        );
        for (key, default) in [
            ("mask_prediction_conv_depth", 256),
            ("mask_prediction_num_conv_layers", 2),
        ] {
            let (v, s) = self.count(mp, mp_at, key, Some(default), mp_line)?;
            t.set(key, &v.to_string(), &s);
        }

        for (name, default) in [
            ("first_stage_minibatch_size", 256),
            ("second_stage_batch_size", 64),
        ] {
            let (v, s) = self.count(f, at, name, Some(default), line)?;
            t.set(name, &v.to_string(), &s);
        }
        for (name, default) in [
            ("first_stage_positive_balance_fraction", 0.5),
            ("second_stage_balance_fraction", 0.25),
            ("first_stage_localization_loss_weight", 1.0),
            ("first_stage_objectness_loss_weight", 1.0),
            ("second_stage_localization_loss_weight", 1.0),
            ("second_stage_classification_loss_weight", 1.0),
            ("second_stage_mask_prediction_loss_weight", 1.0),
        ] {
            let (v, s) = self.num_or(f, at, name, default)?;
            t.set(name, &float(v), &s);
        }

        let net = "it changes the network, and the C4 model does not implement that";
        let (code, _) = self.count(mp, mp_at, "box_code_size", Some(4), mp_line)?;
        if code != 4 {
            let l = mp.get("box_code_size").map_or(mp_line, |g| g.line);
            return self.refuse(
                l,
                &join(mp_at, "box_code_size"),
                Some(code.to_string()),
                net,
            );
        }
        for name in [
            "masks_are_class_agnostic",
            "share_box_across_classes",
            "predict_keypoints",
            "convolve_then_upsample_masks",
        ] {
            self.only(mp, mp_at, name, false, net)?;
        }
        let dropout = ["use_dropout", "dropout_keep_probability"];
        let why = "dropout only acts in training";
        self.named(mp, mp_at, &dropout, NoteKind::Ignored, why);
        let mut hyper = Vec::new();
        for (m, at, name) in [
            (f, at, "first_stage_box_predictor_conv_hyperparams"),
            (mp, mp_at.as_str(), "fc_hyperparams"),
            (mp, mp_at.as_str(), "conv_hyperparams"),
        ] {
            if let Some((h, _)) = self.sub(m, at, name)? {
                hyper.push((h, join(at, name)));
            }
        }
        let weight_decay = self.regularisers(&hyper)?;
        for (h, at) in &hyper {
            self.rest(h, at, NoteKind::NotTranslated, HYPERPARAMS);
        }
        let why = "batch norm statistics are frozen here";
        self.named(f, at, &["inplace_batchnorm_update"], NoteKind::Ignored, why);
        let why = "a training setting without a key here (the C4 losses are the OD API's \
                   defaults: softmax classification, no hard example mining)";
        let training = ["second_stage_classification_loss", "hard_example_miner"];
        self.named(f, at, &training, NoteKind::NotTranslated, why);
        self.rest(
            f,
            at,
            NoteKind::NotTranslated,
            "no key of the C4 model config",
        );
        Ok(Model {
            toml: t,
            classes: n,
            weight_decay,
        })
    }

    /// `Some(comment)` when no layer hyperparameter regularises (every `l2_regularizer` weight
    /// 0, or none): with the TF1 ResNet extractor's own weight decay of 0.0, the OD API then
    /// trains without weight decay (`solver.weight_decay = 0`), and the regularisers are read.
    /// Otherwise they are left to be listed: the solver has one weight decay for every weight.
    fn regularisers(&mut self, hyper: &[(&'a Message, String)]) -> R<Option<String>> {
        let zero = hyper.iter().all(|(h, _)| match h.message("regularizer") {
            None => true,
            Some(reg) => {
                let l2 = reg.message("l2_regularizer");
                let w = l2.and_then(|l2| l2.get("weight")).map(|w| &w.value);
                reg.fields.iter().all(|f| f.name == "l2_regularizer")
                    && matches!(w, Some(Value::Scalar(Scalar::Num(w))) if *w == 0.0)
            }
        });
        if !zero {
            let why = "per-layer L2 regularisation: solver.weight_decay applies to every weight \
                       alike (slim's l2_regularizer weight w is weight decay w; the OD API's \
                       ResNet has none)";
            for (h, at) in hyper {
                self.named(h, at, &["regularizer"], NoteKind::NotTranslated, why);
            }
            return Ok(None);
        }
        let mut lines = Vec::new();
        for (h, at) in hyper {
            if let Some((reg, _)) = self.sub(h, at, "regularizer")? {
                let at = &join(at, "regularizer");
                if let Some((l2, _)) = self.sub(reg, at, "l2_regularizer")? {
                    let at = &join(at, "l2_regularizer");
                    lines.extend(self.num(l2, at, "weight")?.map(|w| w.1.to_string()));
                }
            }
        }
        Ok(Some(if lines.is_empty() {
            "no layer has a regularizer and the TF1 ResNet's weight_decay is 0.0".into()
        } else {
            format!(
                "lines {}: l2_regularizer weight 0, and the TF1 ResNet's weight_decay is 0.0",
                lines.join(", ")
            )
        }))
    }

    /// A message field the OD API needs.
    pub(super) fn required(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
        line: usize,
    ) -> R<(&'a Message, usize)> {
        match self.sub(m, at, name)? {
            Some(s) => Ok(s),
            None => self.refuse(line, at, None, &format!("`{name}` is required")),
        }
    }

    /// `feature_extractor`: the ResNet depth and the output stride, with their comments.
    pub(super) fn extractor(&mut self, f: &'a Message, at: &str, line: usize) -> R<Extractor> {
        let (fe, fe_line) = self.required(f, at, "feature_extractor", line)?;
        let at = &join(at, "feature_extractor");
        let Some((ty, l)) = self.text(fe, at, "type")? else {
            return self.refuse(fe_line, at, None, "`type` is required");
        };
        let path = join(at, "type");
        let depth = match ty.strip_prefix("faster_rcnn_resnet") {
            Some("50") => 50,
            Some("101") => 101,
            Some("152") => 152,
            Some(keras) if keras.ends_with("_keras") => {
                let why = "the Keras (TF2) extractors build tf.keras' ResNet, whose strides and \
                           padding differ from TF-slim's resnet_v1, which the C4 model \
                           implements: use a TF1 type (faster_rcnn_resnet50/101/152)";
                return self.refuse(l, &path, Some(format!("{ty:?}")), why);
            }
            _ => {
                let why = "the C4 model is the TF1 ResNet v1 extractor: faster_rcnn_resnet50, \
                           faster_rcnn_resnet101 or faster_rcnn_resnet152";
                return self.refuse(l, &path, Some(format!("{ty:?}")), why);
            }
        };
        let name = "first_stage_features_stride";
        let (stride, stride_src) = self.count(fe, at, name, Some(16), fe_line)?;
        if stride != 8 && stride != 16 {
            let l = fe.get(name).map_or(fe_line, |g| g.line);
            let why = "the ResNet v1 extractor takes 8 or 16";
            return self.refuse(l, &join(at, name), Some(stride.to_string()), why);
        }
        let bn_src = match self.flag(fe, at, "batch_norm_trainable")? {
            Some((true, l)) => {
                let why = "the batch norm statistics stay frozen here; only the scale and \
                           shift train (backbone.norm_affine_trainable)";
                let path = join(at, "batch_norm_trainable");
                self.note(l, path, "true".into(), NoteKind::NotTranslated, why);
                format!("line {l}: batch_norm_trainable true, statistics frozen")
            }
            Some((false, l)) => format!(
                "line {l}: batch_norm_trainable false: frozen statistics, TF-slim's gamma/beta train"
            ),
            None => "batch_norm_trainable false (default): frozen statistics, TF-slim's \
                     gamma/beta train"
                .into(),
        };
        self.rest(
            fe,
            at,
            NoteKind::NotTranslated,
            "no key of the C4 model config",
        );
        Ok(Extractor {
            depth,
            depth_src: format!("line {l}: type {ty}"),
            stride,
            stride_src,
            bn_src,
        })
    }

    /// `train_config.freeze_variables`: the comment of `backbone.trainable_layers = 5`.
    fn freeze_variables(&mut self, root: &'a Message) -> R<&'static str> {
        let Some((tc, _)) = self.sub(root, "", "train_config")? else {
            return Ok("no train_config: every layer trains");
        };
        let why = "regexes over TF variable names; backbone.trainable_layers freezes whole \
                   stages, set it";
        let before = self.notes.len();
        self.named(
            tc,
            "train_config",
            &["freeze_variables"],
            NoteKind::NotTranslated,
            why,
        );
        Ok(if self.notes.len() == before {
            "train_config has no freeze_variables: every layer trains"
        } else {
            "freeze_variables is not translated"
        })
    }

    /// `first_stage_anchor_generator.grid_anchor_generator` as the `c4.anchor_*` keys.
    pub(super) fn anchors(&mut self, f: &'a Message, at: &str, line: usize, t: &mut Toml) -> R<()> {
        let (ag, ag_line) = self.required(f, at, "first_stage_anchor_generator", line)?;
        let at = &join(at, "first_stage_anchor_generator");
        let why = "the C4 model's anchors are grid_anchor_generator's";
        let (g, g_line) = self.oneof(ag, at, ag_line, "grid_anchor_generator", why)?;
        let at = &join(at, "grid_anchor_generator");
        for (key, name) in [
            ("anchor_scales", "scales"),
            ("anchor_aspect_ratios", "aspect_ratios"),
        ] {
            let (v, l) = self.nums(g, at, name)?;
            if v.is_empty() {
                return self.refuse(g_line, at, None, &format!("`{name}` is empty: no anchors"));
            }
            t.set(key, &floats(&v), &src(name, l));
        }
        for (key, names, default) in [
            ("anchor_base_size", ["height", "width"], 256.0),
            ("anchor_stride", ["height_stride", "width_stride"], 16.0),
            ("anchor_offset", ["height_offset", "width_offset"], 0.0),
        ] {
            let (h, hs) = self.num_or(g, at, names[0], default)?;
            let (w, ws) = self.num_or(g, at, names[1], default)?;
            t.set(key, &floats(&[h, w]), &format!("{hs}, {ws}"));
        }
        Ok(())
    }
}

/// What `feature_extractor` says, with the comments of the values.
pub(super) struct Extractor {
    depth: usize,
    depth_src: String,
    stride: usize,
    stride_src: String,
    bn_src: String,
}

/// The model TOML's keys after `architecture`, and what the experiment needs of the model.
pub(super) struct Model {
    pub(super) toml: Toml,
    /// Foreground classes (`num_classes`).
    pub(super) classes: usize,
    /// The comment of `solver.weight_decay = 0.0`, when the OD API trains without weight decay.
    pub(super) weight_decay: Option<String>,
}
