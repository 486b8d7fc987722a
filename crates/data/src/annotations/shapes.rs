//! Shapes as the annotation tools draw them, turned into the polygons COCO stores.
//!
//! The conversions are labelme's own COCO exporter's (`labelme2coco.py`), so a mask here is the
//! mask a labelme -> COCO -> Detectron2 user gets:
//! * a rectangle is the polygon of its four corners (corners sorted);
//! * a circle of radius `r` is a regular polygon of `n = max(floor(pi / acos(1 - 1/r)), 12)`
//!   vertices (12 when `r <= 1`) at `(cx + r sin t, cy + r cos t)`, `t = 2 pi i / n`: vertices
//!   close enough that the chord never strays a pixel from the circle;
//! * an ellipse (VIA) takes the same vertex count for its larger radius, the points
//!   `(rx sin t, ry cos t)` rotated by `theta` about the centre.
//!
//! Then pycocotools rasterises the polygons ([`Rle::from_polygons`], the union of an instance's
//! parts).

use mrcnn_coco::Rle;

use crate::error::Invalid;

/// One drawn region, in image pixel coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Vertices in order (a closed polyline is one too).
    Polygon(Vec<[f64; 2]>),
    /// Two opposite corners.
    Rect {
        a: [f64; 2],
        b: [f64; 2],
    },
    Circle {
        c: [f64; 2],
        r: f64,
    },
    Ellipse {
        c: [f64; 2],
        rx: f64,
        ry: f64,
        theta: f64,
    },
}

/// Vertices of the polygon standing for a circle or ellipse whose larger radius is `r`.
fn vertex_count(r: f64) -> usize {
    if r <= 1.0 {
        return 12;
    }
    ((std::f64::consts::PI / (1.0 - 1.0 / r).acos()).floor() as usize).max(12)
}

fn finite(v: &[f64]) -> Result<(), Invalid> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err("a coordinate is not a finite number".into())
    }
}

impl Shape {
    /// The flat polygon `[x1, y1, x2, y2, ...]` pycocotools rasterises.
    pub fn polygon(&self) -> Result<Vec<f64>, Invalid> {
        match self {
            Shape::Polygon(pts) => {
                if pts.len() < 3 {
                    return Err(Invalid(format!(
                        "a polygon needs at least 3 points, this one has {}",
                        pts.len()
                    )));
                }
                let flat: Vec<f64> = pts.iter().flatten().copied().collect();
                finite(&flat)?;
                Ok(flat)
            }
            Shape::Rect { a, b } => {
                finite(&[a[0], a[1], b[0], b[1]])?;
                let (x1, x2) = (a[0].min(b[0]), a[0].max(b[0]));
                let (y1, y2) = (a[1].min(b[1]), a[1].max(b[1]));
                if x1 == x2 || y1 == y2 {
                    return Err(Invalid(format!(
                        "the rectangle ({x1}, {y1})-({x2}, {y2}) has no area"
                    )));
                }
                Ok(vec![x1, y1, x2, y1, x2, y2, x1, y2])
            }
            Shape::Circle { c, r } => Shape::Ellipse {
                c: *c,
                rx: *r,
                ry: *r,
                theta: 0.0,
            }
            .polygon(),
            Shape::Ellipse { c, rx, ry, theta } => {
                finite(&[c[0], c[1], *rx, *ry, *theta])?;
                if *rx <= 0.0 || *ry <= 0.0 {
                    return Err(Invalid(format!(
                        "the circle or ellipse at ({}, {}) has radius {rx} x {ry}: no area",
                        c[0], c[1]
                    )));
                }
                let n = vertex_count(rx.max(*ry));
                let (s, co) = theta.sin_cos();
                let mut v = Vec::with_capacity(2 * n);
                for i in 0..n {
                    let t = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
                    let (px, py) = (rx * t.sin(), ry * t.cos());
                    v.push(c[0] + px * co - py * s);
                    v.push(c[1] + px * s + py * co);
                }
                Ok(v)
            }
        }
    }
}

/// Whether two edges of the closed polygon cross (not counting neighbours sharing a vertex):
/// pycocotools still rasterises it (by its scan-line parity), but it is worth a note.
pub fn self_intersects(flat: &[f64]) -> bool {
    let n = flat.len() / 2;
    let p = |i: usize| (flat[2 * (i % n)], flat[2 * (i % n) + 1]);
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    for i in 0..n {
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue;
            }
            let (a, b, c, d) = (p(i), p(i + 1), p(j), p(j + 1));
            let (d1, d2) = (cross(c, d, a), cross(c, d, b));
            let (d3, d4) = (cross(a, b, c), cross(a, b, d));
            if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
                return true;
            }
        }
    }
    false
}

/// Whether a vertex lies outside the `w` x `h` image (the rasteriser clips it).
pub fn leaves_image(flat: &[f64], w: u32, h: u32) -> bool {
    flat.chunks(2)
        .any(|q| q[0] < 0.0 || q[1] < 0.0 || q[0] > w as f64 || q[1] > h as f64)
}

/// The union of the polygons as a full-image mask.
pub fn rasterize(polys: &[Vec<f64>], w: u32, h: u32) -> Rle {
    Rle::from_polygons(polys, h, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_sort_their_corners_and_circles_have_enough_vertices() {
        let r = Shape::Rect {
            a: [5.0, 1.0],
            b: [2.0, 4.0],
        };
        assert_eq!(
            r.polygon().unwrap(),
            [2.0, 1.0, 5.0, 1.0, 5.0, 4.0, 2.0, 4.0]
        );
        assert_eq!(vertex_count(0.5), 12);
        assert_eq!(vertex_count(10.0), 12);
        assert_eq!(vertex_count(100.0), 22);
        assert!(vertex_count(100.0) > 12);
        let c = Shape::Circle {
            c: [10.0, 10.0],
            r: 3.0,
        }
        .polygon()
        .unwrap();
        assert_eq!(c.len(), 24);
        assert_eq!(&c[..2], &[10.0, 13.0]);
    }

    #[test]
    fn degenerate_shapes_are_errors() {
        let two = Shape::Polygon(vec![[0.0, 0.0], [3.0, 3.0]]);
        assert!(two.polygon().unwrap_err().0.contains("3 points"));
        let flat = Shape::Rect {
            a: [1.0, 1.0],
            b: [1.0, 5.0],
        };
        assert!(flat.polygon().unwrap_err().0.contains("no area"));
        let nan = Shape::Polygon(vec![[0.0, 0.0], [3.0, f64::NAN], [0.0, 3.0]]);
        assert!(nan.polygon().is_err());
    }

    #[test]
    fn a_bow_tie_intersects_itself_and_a_square_does_not() {
        assert!(self_intersects(&[0.0, 0.0, 4.0, 4.0, 4.0, 0.0, 0.0, 4.0]));
        assert!(!self_intersects(&[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]));
        assert!(leaves_image(&[-1.0, 0.0, 4.0, 0.0, 4.0, 4.0], 10, 10));
        assert!(!leaves_image(&[0.0, 0.0, 10.0, 0.0, 4.0, 4.0], 10, 10));
    }
}
