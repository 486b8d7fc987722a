//! COCO class names, used to carry COCO checkpoints' class rows over by name.

/// torchvision's COCO labels 1..=90 (the 91-entry list without `__background__`): COCO category
/// ids, with `N/A` where the id is unused.
pub const COCO_91: [&str; 90] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "N/A",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "N/A",
    "backpack",
    "umbrella",
    "N/A",
    "N/A",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "N/A",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "N/A",
    "dining table",
    "N/A",
    "N/A",
    "toilet",
    "N/A",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "N/A",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The 80 COCO classes in the contiguous order Detectron2 and MMDetection use (category ids
/// sorted, gaps removed).
pub fn coco_80() -> Vec<String> {
    COCO_91
        .iter()
        .filter(|n| **n != "N/A")
        .map(|n| n.to_string())
        .collect()
}

/// torchvision's 90 foreground labels as strings.
pub fn coco_91() -> Vec<String> {
    COCO_91.iter().map(|n| n.to_string()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn eighty_classes() {
        let c = super::coco_80();
        assert_eq!(c.len(), 80);
        assert_eq!((c[0].as_str(), c[79].as_str()), ("person", "toothbrush"));
    }
}
