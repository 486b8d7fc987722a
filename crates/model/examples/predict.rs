//! Loads a model and its weights, runs it on an image, prints the detections:
//! `cargo run --release -p mrcnn-model --example predict -- MODEL.toml WEIGHTS IMAGE`
use burn::prelude::Device;
use mrcnn_model::{ImageInput, MaskRcnn};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, weights, image] = args.as_slice() else {
        return Err("usage: predict MODEL.toml WEIGHTS IMAGE".into());
    };
    let model = MaskRcnn::from_files(Path::new(config), Path::new(weights), &Device::flex())?;
    let pred = &model.predict(&[ImageInput::from_image(&image::open(image)?)])[0];
    for i in 0..pred.len() {
        let (name, [x1, y1, x2, y2]) = (model.config.class_name(pred.labels[i]), pred.boxes[i]);
        let area = pred.mask_rle(i).area();
        println!(
            "{name} {:.3} [{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}] {area} px",
            pred.scores[i]
        );
    }
    Ok(())
}
