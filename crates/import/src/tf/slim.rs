//! TF-slim variable names of the TensorFlow Object Detection API's Faster/Mask R-CNN ResNet v1
//! feature extractors, mapped onto torchvision's state-dict names, with TensorFlow's HWIO
//! kernels transposed to OIHW:
//!
//! | OD API variable | torchvision name |
//! |---|---|
//! | `FirstStageFeatureExtractor/resnet_v1_101/conv1/weights` | `backbone.body.conv1.weight` |
//! | `.../conv1/BatchNorm/{gamma,beta,moving_mean,moving_variance}` | `backbone.body.bn1.{weight,bias,running_mean,running_var}` |
//! | `.../blockB/unit_U/bottleneck_v1/convK/...` | `backbone.body.layerB.{U-1}.convK` / `bnK` |
//! | `.../blockB/unit_U/bottleneck_v1/shortcut/...` | `backbone.body.layerB.{U-1}.downsample.{0,1}` |
//!
//! `SecondStageFeatureExtractor/resnet_v1_N/block4` (the box classifier's block4, run on the
//! cropped regions) maps onto `layer4` the same way. Optimiser slots (`Momentum`), moving
//! averages and `global_step` hold no weights and are listed as ignored.

use crate::tensors::HostTensor;

/// Scopes the OD API gives the two halves of the ResNet.
const SCOPES: [&str; 2] = ["FirstStageFeatureExtractor", "SecondStageFeatureExtractor"];

/// The torchvision name of a TF-slim ResNet v1 variable, or `None` when it is not one.
pub fn resnet_name(tf_name: &str) -> Option<String> {
    let mut parts = tf_name.split('/');
    let scope = parts.next()?;
    if !SCOPES.contains(&scope) {
        return None;
    }
    let net = parts.next()?;
    let depth = net.strip_prefix("resnet_v1_")?;
    if depth.is_empty() || !depth.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    let (module, leaf) = match rest.as_slice() {
        ["conv1", leaf @ ..] => ("conv1".to_string(), leaf),
        [block, unit, "bottleneck_v1", layer, leaf @ ..] => {
            let b: usize = block.strip_prefix("block")?.parse().ok()?;
            let u: usize = unit.strip_prefix("unit_")?.parse().ok()?;
            if !(1..=4).contains(&b) || u == 0 {
                return None;
            }
            let layer = match *layer {
                "shortcut" => "downsample".to_string(),
                l @ ("conv1" | "conv2" | "conv3") => l.to_string(),
                _ => return None,
            };
            (format!("layer{b}.{}.{layer}", u - 1), leaf)
        }
        _ => return None,
    };
    let suffix = match leaf {
        ["weights"] => "weight",
        ["BatchNorm", "gamma"] => "weight",
        ["BatchNorm", "beta"] => "bias",
        ["BatchNorm", "moving_mean"] => "running_mean",
        ["BatchNorm", "moving_variance"] => "running_var",
        _ => return None,
    };
    let bn = leaf.len() == 2;
    let module = match (module.as_str(), bn) {
        ("conv1", true) => "bn1".to_string(),
        (m, false) if m.ends_with("downsample") => format!("{m}.0"),
        (m, true) if m.ends_with("downsample") => format!("{m}.1"),
        (m, true) => {
            // `layerB.U.convK` -> `layerB.U.bnK`.
            let (head, k) = m.rsplit_once(".conv")?;
            format!("{head}.bn{k}")
        }
        (m, false) => m.to_string(),
    };
    Some(format!("backbone.body.{module}.{suffix}"))
}

/// Whether a checkpoint variable holds no weight: optimiser slots, moving averages, counters.
pub fn is_ignorable(tf_name: &str) -> bool {
    let last = tf_name.rsplit('/').next().unwrap_or(tf_name);
    tf_name == "global_step"
        || last.starts_with("Momentum")
        || last.starts_with("ExponentialMovingAverage")
        || last == "Adam"
        || last == "Adam_1"
}

/// A 4-D TensorFlow kernel `[kh, kw, in, out]` as PyTorch's `[out, in, kh, kw]`.
pub fn hwio_to_oihw(shape: &[usize], data: &[f32]) -> HostTensor {
    let [kh, kw, ci, co] = [shape[0], shape[1], shape[2], shape[3]];
    let mut out = vec![0.0f32; data.len()];
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    HostTensor::new(vec![co, ci, kh, kw], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_slim_names() {
        let cases = [
            (
                "FirstStageFeatureExtractor/resnet_v1_101/conv1/weights",
                "backbone.body.conv1.weight",
            ),
            (
                "FirstStageFeatureExtractor/resnet_v1_101/conv1/BatchNorm/moving_variance",
                "backbone.body.bn1.running_var",
            ),
            (
                "FirstStageFeatureExtractor/resnet_v1_101/block3/unit_23/bottleneck_v1/conv2/BatchNorm/gamma",
                "backbone.body.layer3.22.bn2.weight",
            ),
            (
                "FirstStageFeatureExtractor/resnet_v1_50/block1/unit_1/bottleneck_v1/shortcut/weights",
                "backbone.body.layer1.0.downsample.0.weight",
            ),
            (
                "SecondStageFeatureExtractor/resnet_v1_101/block4/unit_1/bottleneck_v1/shortcut/BatchNorm/beta",
                "backbone.body.layer4.0.downsample.1.bias",
            ),
            (
                "SecondStageFeatureExtractor/resnet_v1_101/block4/unit_3/bottleneck_v1/conv3/weights",
                "backbone.body.layer4.2.conv3.weight",
            ),
        ];
        for (tf, tv) in cases {
            assert_eq!(resnet_name(tf).as_deref(), Some(tv), "{tf}");
        }
        for other in [
            "FirstStageBoxPredictor/BoxEncodingPredictor/weights",
            "FirstStageFeatureExtractor/resnet_v1_101/block5/unit_1/bottleneck_v1/conv1/weights",
            "FirstStageFeatureExtractor/resnet_v1_101/block1/unit_0/bottleneck_v1/conv1/weights",
            "FirstStageFeatureExtractor/resnet_v1_101/block1/unit_1/bottleneck_v1/conv4/weights",
            "FirstStageFeatureExtractor/resnet_v1_101/conv1/biases",
            "FirstStageFeatureExtractor/resnet_v1_/conv1/weights",
        ] {
            assert_eq!(resnet_name(other), None, "{other}");
        }
        assert!(is_ignorable(
            "FirstStageFeatureExtractor/resnet_v1_101/conv1/weights/Momentum"
        ));
        assert!(is_ignorable("global_step"));
        assert!(!is_ignorable(
            "FirstStageFeatureExtractor/resnet_v1_101/conv1/weights"
        ));
    }

    #[test]
    fn kernel_transpose() {
        // [kh=1, kw=2, in=2, out=3], values = their HWIO flat index.
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let t = hwio_to_oihw(&[1, 2, 2, 3], &data);
        assert_eq!(t.shape, vec![3, 2, 1, 2]);
        // out o, in i, x: HWIO index (x * 2 + i) * 3 + o.
        for o in 0..3 {
            for i in 0..2 {
                for x in 0..2 {
                    assert_eq!(t.data[(o * 2 + i) * 2 + x], ((x * 2 + i) * 3 + o) as f32);
                }
            }
        }
    }
}
