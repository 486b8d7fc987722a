//! What each framework's checkpoints expect of the model config. A weight file cannot tell
//! whether its ResNet strides in the 1x1 or the 3x3 conv, which colour order it was trained on,
//! or how its RoIAlign samples; a wrong switch still loads and then silently costs accuracy.
//! So the import compares the config with the framework's defaults and reports every
//! difference as a hint (not an error: variants such as Detectron2's torchvision-style or
//! MMDetection's caffe-style backbones legitimately differ).

use mrcnn_config::{Architecture, ModelConfig, PixelFormat, ResNetLayout, Resizer, WeightsFormat};

/// Config values that differ from what `format`'s standard R-FPN Mask R-CNN uses.
pub fn hints(format: WeightsFormat, cfg: &ModelConfig) -> Vec<String> {
    let mut h = Vec::new();
    let mut want = |ok: bool, msg: &str| {
        if !ok {
            h.push(msg.to_string());
        }
    };
    let b = &cfg.backbone;
    let pools = [&cfg.roi_heads.pooler, &cfg.mask_head.pooler];
    match format {
        WeightsFormat::Detectron2 => {
            want(
                b.stride_in_1x1,
                "Detectron2's MSRA ResNets stride in the 1x1 conv: backbone.stride_in_1x1 = true",
            );
            want(
                cfg.input.format == PixelFormat::Bgr255,
                "Detectron2 models take BGR 0-255 input: input.format = \"bgr255\" with pixel_mean [103.53, 116.28, 123.675], pixel_std [1, 1, 1]",
            );
            want(
                b.norm_eps == 1e-5,
                "Detectron2's FrozenBatchNorm2d uses eps 1e-5: backbone.norm_eps = 1e-5",
            );
            want(
                pools.iter().all(|p| p.aligned),
                "Detectron2 uses ROIAlignV2: pooler aligned = true",
            );
            want(
                pools.iter().all(|p| p.sampling_ratio == 0),
                "Detectron2 samples adaptively: pooler sampling_ratio = 0",
            );
            want(
                !cfg.anchors.rounded,
                "Detectron2 does not round anchors: anchors.rounded = false",
            );
        }
        WeightsFormat::Mmdet => {
            want(
                !b.stride_in_1x1,
                "MMDetection's pytorch-style ResNets stride in the 3x3 conv: backbone.stride_in_1x1 = false (caffe-style models differ)",
            );
            want(
                cfg.input.format == PixelFormat::Rgb01,
                "MMDetection's pytorch-style models take RGB input normalised with mean [123.675, 116.28, 103.53] / std [58.395, 57.12, 57.375] in 0-255: input.format = \"rgb01\" with those values / 255",
            );
            want(
                b.norm_eps == 1e-5,
                "MMDetection's BatchNorm uses eps 1e-5: backbone.norm_eps = 1e-5",
            );
            want(
                pools.iter().all(|p| p.aligned),
                "MMDetection's RoIAlign is aligned: pooler aligned = true",
            );
            want(
                pools.iter().all(|p| p.sampling_ratio == 0),
                "MMDetection samples adaptively: pooler sampling_ratio = 0",
            );
            want(
                !cfg.anchors.rounded,
                "MMDetection does not round anchors: anchors.rounded = false",
            );
        }
        WeightsFormat::TfOdApi => {
            want(
                cfg.architecture == Architecture::C4,
                "OD API Faster/Mask R-CNN ResNet checkpoints are the single-level C4 model: architecture = \"c4\" (model_configs/mask_rcnn_resnet101_atrous_tf.toml)",
            );
            want(
                b.layout == ResNetLayout::TfSlim,
                "TF-slim ResNets stride at the end of each stage: backbone.layout = \"tf_slim\"",
            );
            want(
                cfg.input.format == PixelFormat::Rgb255 && cfg.input.pixel_std == [1.0; 3],
                "the OD API's ResNet extractors take RGB 0-255 minus the channel means: input.format = \"rgb255\", pixel_mean [123.68, 116.779, 103.939], pixel_std [1, 1, 1]",
            );
            want(
                cfg.input.resizer == Resizer::TfKeepAspectRatio,
                "the OD API resizes with keep_aspect_ratio_resizer: input.resizer = \"tf_keep_aspect_ratio\"",
            );
            want(
                cfg.rpn.bbox_reg_weights == [10.0, 10.0, 5.0, 5.0],
                "the OD API's first stage encodes boxes with scale factors 10, 10, 5, 5: rpn.bbox_reg_weights = [10, 10, 5, 5]",
            );
        }
        WeightsFormat::Torchvision | WeightsFormat::Auto => {
            want(
                !b.stride_in_1x1,
                "torchvision ResNets stride in the 3x3 conv: backbone.stride_in_1x1 = false",
            );
            want(
                cfg.input.format == PixelFormat::Rgb01,
                "torchvision models take RGB 0-1 input: input.format = \"rgb01\"",
            );
            want(
                pools.iter().all(|p| !p.aligned && p.sampling_ratio == 2),
                "torchvision's Mask R-CNN pools with aligned = false, sampling_ratio = 2",
            );
            want(
                cfg.anchors.rounded,
                "torchvision rounds its anchors: anchors.rounded = true",
            );
        }
    }
    h
}
