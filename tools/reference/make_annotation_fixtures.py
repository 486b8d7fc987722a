#!/usr/bin/env python3
"""Annotation-tool reader fixtures: labelme, VIA 2, VIA 3, CVAT for images 1.1, Pascal VOC
instance PNGs, plus labelme "trap" folders (odd image modes, EXIF rotation, bad annotations).

Uses numpy, pillow and pycocotools (pip install numpy pillow pycocotools). pycocotools is the
reference rasterizer: every polygon-like shape becomes flat polygons, rasterized with
`mask.frPyObjects(polys, h, w)` and unioned with `mask.merge` (one RLE per instance).

Writes (committed, well under 300 KB; the folder is deleted and recreated on every run):
  data/samples/annotations/
    labelme/{a.jpg,a.json,b.png,b.json,sub/c.png,sub/c.json}
    via2/{via_project.json,via_export.json,v1.png,v2.jpg,v3.png}
    via3/{via_project.json,x.png,y.jpg}
    cvat/{annotations.xml,images/p.png,images/q.png}
    voc/{JPEGImages,SegmentationObject,SegmentationClass}/2007_00000{1,2,3}.{jpg,png}
    voc/ImageSets/Segmentation/{train,val}.txt
    traps/<case>/<case>.<ext> + <case>.json   (one labelme image per case)
    expected.json   per image: [{"class", "size": [h, w], "counts": uncompressed COCO RLE, "area"}]
    README.md       what each folder is and what a reader must do with it

Shape -> polygon conventions (the Rust readers implement the same):
  polygon / closed polyline   the points as given
  rectangle / box             sorted corners -> [x1,y1, x2,y1, x2,y2, x1,y2]
  circle (cx, cy, r)          n = 12 if r <= 1 else max(floor(pi / acos(1 - 1/r)), 12) points,
                              t = 2 pi i / n, (cx + r sin t, cy + r cos t)
  ellipse (cx, cy, rx, ry, θ) same with m = max(rx, ry), (px, py) = (rx sin t, ry cos t) rotated by θ
  CVAT mask                   row-major RLE over its box, placed in the full image
  VOC                         pixels where SegmentationObject == i (255 border excluded)
labelme instance key: (label, group_id); shapes with group_id null are separate instances.
labelme line/point shapes, VIA 2/VIA 3 points and CVAT polylines/points give no instance.

Deterministic (no randomness, no timestamps); JPEG bytes (and so VIA 2 file sizes / keys) depend
on the Pillow/libjpeg build.

Usage (from the repository root):
  python3 tools/reference/make_annotation_fixtures.py
"""

import importlib.metadata
import json
import math
import os
import shutil
import sys
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from pycocotools import mask as mask_util

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "data", "samples", "annotations")

EXPECTED = {}  # "<format>/<image path relative to the format folder>" -> [instance]

PALETTE_COLORS = [
    (230, 90, 60), (60, 160, 90), (70, 110, 220), (220, 200, 60), (170, 80, 190),
    (60, 190, 200), (240, 150, 40), (120, 120, 120),
]


# ---------------------------------------------------------------- geometry + reference masks

def flat(points):
    return [float(c) for p in points for c in p]


def rect_poly(xa, ya, xb, yb):
    x1, x2 = sorted((float(xa), float(xb)))
    y1, y2 = sorted((float(ya), float(yb)))
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def n_vertices(r):
    if r <= 1:
        return 12
    return max(int(math.floor(math.pi / math.acos(1.0 - 1.0 / r))), 12)


def circle_poly(cx, cy, r):
    n = n_vertices(r)
    out = []
    for i in range(n):
        t = 2.0 * math.pi * i / n
        out += [cx + r * math.sin(t), cy + r * math.cos(t)]
    return out


def ellipse_poly(cx, cy, rx, ry, theta=0.0):
    n = n_vertices(max(rx, ry))
    c, s = math.cos(theta), math.sin(theta)
    out = []
    for i in range(n):
        t = 2.0 * math.pi * i / n
        px, py = rx * math.sin(t), ry * math.cos(t)
        out += [cx + px * c - py * s, cy + px * s + py * c]
    return out


def rle_of_polys(polys, h, w):
    rles = mask_util.frPyObjects([list(p) for p in polys], h, w)
    return mask_util.merge(rles)


def rle_of_mask(m):
    return mask_util.encode(np.asfortranarray(m.astype(np.uint8)))


def column_major_counts(m):
    """Uncompressed COCO counts: column-major runs, first run = zeros (may be 0)."""
    v = m.flatten(order="F").astype(np.uint8)
    counts, cur, run = [], 0, 0
    for x in v:
        if x == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = x, 1
    counts.append(run)
    return counts


def instance(cls, rle):
    m = mask_util.decode(rle)
    h, w = m.shape
    area = int(m.sum())
    assert area == int(mask_util.area(rle))
    counts = column_major_counts(m)
    assert sum(counts) == h * w
    return {"class": cls, "size": [int(h), int(w)], "counts": [int(c) for c in counts], "area": area}


def poly_instance(cls, polys, h, w):
    return instance(cls, rle_of_polys(polys, h, w))


# ---------------------------------------------------------------- images

def pts_of(poly):
    return [(poly[i], poly[i + 1]) for i in range(0, len(poly), 2)]


def picture(w, h, bg, shapes, mode="RGB"):
    """shapes: list of (flat polygon, colour index)."""
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    for poly, ci in shapes:
        d.polygon(pts_of(poly), fill=PALETTE_COLORS[ci % len(PALETTE_COLORS)])
    return img


def write_json(path, obj, indent=2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ---------------------------------------------------------------- labelme

def lm_shape(label, points, shape_type, group_id=None):
    return {
        "label": label,
        "points": [[float(x), float(y)] for x, y in points],
        "group_id": group_id,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,  # labelme >= 5.3 writes "mask": null on every non-mask shape
    }


def lm_shape_polys(s):
    """Polygons of one labelme shape, or None for shapes without area; raises for bad shapes."""
    t, p = s["shape_type"], s["points"]
    if t == "polygon":
        if len(p) < 3:
            raise ValueError("polygon with < 3 points")
        return flat(p)
    if t == "rectangle":
        (xa, ya), (xb, yb) = p
        return rect_poly(xa, ya, xb, yb)
    if t == "circle":
        (cx, cy), (px, py) = p
        dx, dy = px - cx, py - cy
        return circle_poly(cx, cy, math.sqrt(dx * dx + dy * dy))
    if t in ("line", "point", "linestrip", "points"):
        return None
    raise ValueError(f"unknown shape_type {t}")


def lm_instances(shapes, h, w):
    groups = {}  # key -> (label, [polys]) in first-appearance order
    for k, s in enumerate(shapes):
        poly = lm_shape_polys(s)
        if poly is None:
            continue
        key = (s["label"], s["group_id"]) if s["group_id"] is not None else ("__single__", k)
        groups.setdefault(key, (s["label"], []))[1].append(poly)
    return [poly_instance(label, polys, h, w) for label, polys in groups.values()]


def lm_doc(shapes, image_name, h, w):
    return {
        "version": "5.3.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": h,
        "imageWidth": w,
    }


def lm_draw_list(shapes):
    out = []
    for k, s in enumerate(shapes):
        poly = lm_shape_polys(s)
        if poly is not None:
            out.append((poly, k))
    return out


def make_labelme():
    base = os.path.join(OUT, "labelme")
    os.makedirs(base, exist_ok=True)
    # a.jpg 64x48
    w, h = 64, 48
    shapes = [
        lm_shape("cat", [[4, 4], [20, 3.5], [22, 18], [6, 20.25]], "polygon"),
        lm_shape("hot dog", [[40, 30], [26, 22]], "rectangle"),  # corners given bottom-right first
        lm_shape("dog", [[50, 12], [53, 16]], "circle"),  # r = 5
        lm_shape("cat", [[5, 28], [15, 26], [14, 36]], "polygon", 1),
        lm_shape("cat", [[12, 30], [24, 28], [26, 40], [19, 42]], "polygon", 1),  # same instance, overlaps
        lm_shape("hot dog", [[44, 36], [60, 34], [58, 44], [46, 45]], "polygon", 1),  # own instance
    ]
    picture(w, h, (200, 220, 235), lm_draw_list(shapes)).save(os.path.join(base, "a.jpg"), quality=90)
    write_json(os.path.join(base, "a.json"), lm_doc(shapes, "a.jpg", h, w))
    EXPECTED["labelme/a.jpg"] = lm_instances(shapes, h, w)

    # b.png 48x40
    w, h = 48, 40
    shapes = [
        lm_shape("cat", [[2, 2], [10, 8]], "line"),
        lm_shape("dog", [[30, 5]], "point"),
        lm_shape("dog", [[-6, -4], [14, 2], [10, 16], [-3, 12]], "polygon"),  # clipped top-left
        lm_shape("plate", [[22, 20], [52, 18], [50, 44], [24, 38]], "polygon"),  # clipped right/bottom
        lm_shape("crème brûlée", [[36, 29], [40, 32]], "circle", 3),  # on the plate, r = 5
    ]
    img = picture(w, h, (240, 230, 200), lm_draw_list(shapes))
    d = ImageDraw.Draw(img)
    d.line([(2, 2), (10, 8)], fill=(0, 0, 0))
    d.point([(30, 5)], fill=(0, 0, 0))
    img.save(os.path.join(base, "b.png"))
    write_json(os.path.join(base, "b.json"), lm_doc(shapes, "b.png", h, w))
    EXPECTED["labelme/b.png"] = lm_instances(shapes, h, w)

    # sub/c.png 40x32, no shapes
    w, h = 40, 32
    os.makedirs(os.path.join(base, "sub"), exist_ok=True)
    picture(w, h, (150, 190, 150), []).save(os.path.join(base, "sub", "c.png"))
    write_json(os.path.join(base, "sub", "c.json"), lm_doc([], "c.png", h, w))
    EXPECTED["labelme/sub/c.png"] = []


# ---------------------------------------------------------------- VIA 2

def via2_polys(sa):
    n = sa["name"]
    if n in ("polygon", "polyline"):
        return [float(v) for xy in zip(sa["all_points_x"], sa["all_points_y"]) for v in xy]
    if n == "rect":
        return rect_poly(sa["x"], sa["y"], sa["x"] + sa["width"], sa["y"] + sa["height"])
    if n == "circle":
        return circle_poly(float(sa["cx"]), float(sa["cy"]), float(sa["r"]))
    if n == "ellipse":
        return ellipse_poly(float(sa["cx"]), float(sa["cy"]), float(sa["rx"]), float(sa["ry"]),
                            float(sa.get("theta", 0.0)))
    if n == "point":
        return None
    raise ValueError(n)


def via2_region(shape_attributes, cls, note=""):
    return {"shape_attributes": shape_attributes, "region_attributes": {"class": cls, "note": note}}


def make_via2():
    base = os.path.join(OUT, "via2")
    os.makedirs(base, exist_ok=True)
    images = [
        ("v1.png", 64, 48, (210, 210, 240), [
            via2_region({"name": "polygon", "all_points_x": [5, 20, 22, 8], "all_points_y": [5, 4, 18, 21]}, "cat", "polygon"),
            via2_region({"name": "rect", "x": 26, "y": 6, "width": 12, "height": 10}, "dog", "rect"),
            via2_region({"name": "circle", "cx": 50, "cy": 14, "r": 6}, "cat", "circle"),
            via2_region({"name": "ellipse", "cx": 14, "cy": 36, "rx": 9, "ry": 5, "theta": 0.5}, "dog", "rotated ellipse"),
            via2_region({"name": "point", "cx": 40, "cy": 40}, "cat", "point: no instance"),
        ]),
        ("v2.jpg", 48, 40, (235, 215, 200), [
            via2_region({"name": "polyline", "all_points_x": [4, 20, 16], "all_points_y": [4, 8, 20]}, "dog", "polyline, closed"),
            via2_region({"name": "ellipse", "cx": 34, "cy": 12, "rx": 8, "ry": 4}, "cat", "ellipse without theta (VIA < 2.0.8)"),
            via2_region({"name": "circle", "cx": -30, "cy": 30, "r": 42}, "dog", "circle mostly outside, 14 vertices"),
            via2_region({"name": "rect", "x": 30, "y": 24, "width": 14, "height": 12}, "cat", ""),
        ]),
        ("v3.png", 40, 32, (200, 240, 200), []),
    ]
    meta = {}
    for fname, w, h, bg, regions in images:
        draw = []
        for k, r in enumerate(regions):
            p = via2_polys(r["shape_attributes"])
            if p is not None:
                draw.append((p, k))
        img = picture(w, h, bg, draw)
        path = os.path.join(base, fname)
        if fname.endswith(".jpg"):
            img.save(path, quality=90)
        else:
            img.save(path)
        size = os.path.getsize(path)
        meta[f"{fname}{size}"] = {"filename": fname, "size": size, "regions": regions, "file_attributes": {}}
        insts = []
        for r in regions:
            p = via2_polys(r["shape_attributes"])
            if p is not None:
                insts.append(poly_instance(r["region_attributes"]["class"], [p], h, w))
        EXPECTED[f"via2/{fname}"] = insts
    project = {
        "_via_settings": {
            "ui": {"annotation_editor_height": 25, "annotation_editor_fontsize": 0.8, "leftsidebar_width": 18,
                   "image_grid": {"img_height": 80, "rshape_fill": "none", "rshape_fill_opacity": 0.3,
                                  "rshape_stroke": "yellow", "rshape_stroke_width": 2,
                                  "show_region_shape": True, "show_image_policy": "all"},
                   "image": {"region_label": "__via_region_id__", "region_color": "__via_default_region_color__",
                             "region_label_font": "10px Sans", "on_image_annotation_editor_placement": "NEAR_REGION"}},
            "core": {"buffer_size": 18, "filepath": {}, "default_filepath": ""},
            "project": {"name": "fixture"},
        },
        "_via_img_metadata": meta,
        "_via_attributes": {
            "region": {
                "class": {"type": "dropdown", "description": "", "options": {"cat": "", "dog": ""}, "default_options": {}},
                "note": {"type": "text", "description": "", "default_value": ""},
            },
            "file": {},
        },
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": list(meta.keys()),
    }
    write_json(os.path.join(base, "via_project.json"), project, indent=None)
    export = json.loads(json.dumps(meta))
    v2 = next(k for k in export if export[k]["filename"] == "v2.jpg")
    export[v2]["regions"] = {str(i): r for i, r in enumerate(export[v2]["regions"])}  # VIA 1.x dict form
    write_json(os.path.join(base, "via_export.json"), export, indent=None)


# ---------------------------------------------------------------- VIA 3

def via3_polys(xy):
    code, v = xy[0], [float(a) for a in xy[1:]]
    if code in (6, 7):
        return v
    if code == 2:
        x, y, w, h = v
        return rect_poly(x, y, x + w, y + h)
    if code == 3:
        return circle_poly(*v)
    if code == 4:
        return ellipse_poly(*v)
    if code == 1:
        return None
    raise ValueError(code)


def make_via3():
    base = os.path.join(OUT, "via3")
    os.makedirs(base, exist_ok=True)
    options = {"0": "cat", "1": "dog"}
    files = [("1", "x.png", 64, 48, (220, 235, 220)), ("2", "y.jpg", 48, 40, (235, 220, 235))]
    metadata = {
        "1_a1b2c3d4": {"vid": "1", "flg": 0, "z": [], "xy": [7, 5, 5, 20, 4, 22, 18, 8, 21], "av": {"1": "0"}},
        "1_e5f6a7b8": {"vid": "1", "flg": 0, "z": [], "xy": [2, 26, 6, 12, 10], "av": {"1": "1"}},
        "1_c9d0e1f2": {"vid": "1", "flg": 0, "z": [], "xy": [3, 50, 14, 6], "av": {"1": "0"}},
        "1_a3b4c5d6": {"vid": "1", "flg": 0, "z": [], "xy": [4, 14, 36, 9, 5], "av": {"1": "1"}},
        "1_e7f8a9b0": {"vid": "1", "flg": 0, "z": [], "xy": [1, 40, 40], "av": {"1": "0"}},
        "2_c1d2e3f4": {"vid": "2", "flg": 0, "z": [], "xy": [6, 4, 4, 20, 8, 16, 20], "av": {"1": "1"}},
        "2_a5b6c7d8": {"vid": "2", "flg": 0, "z": [], "xy": [2, 30.5, 24.25, 14, 12.5], "av": {"1": "0"}},
        "2_e9f0a1b2": {"vid": "2", "flg": 0, "z": [], "xy": [7, 26.5, 3, 44, 6.75, 40, 18, 28, 16], "av": {"1": "0"}},
    }
    file_map, view = {}, {}
    for fid, fname, w, h, bg in files:
        regs = [m for m in metadata.values() if m["vid"] == fid]
        draw = [(p, k) for k, m in enumerate(regs) if (p := via3_polys(m["xy"])) is not None]
        img = picture(w, h, bg, draw)
        if fname.endswith(".jpg"):
            img.save(os.path.join(base, fname), quality=90)
        else:
            img.save(os.path.join(base, fname))
        file_map[fid] = {"fid": fid, "fname": fname, "type": 2, "loc": 3, "src": fname}
        view[fid] = {"fid_list": [fid]}
        EXPECTED[f"via3/{fname}"] = [poly_instance(options[m["av"]["1"]], [p], h, w)
                                     for m in regs if (p := via3_polys(m["xy"])) is not None]
    project = {
        "project": {"pid": "__VIA_PROJECT_ID__", "rev": "__VIA_PROJECT_REV_ID__",
                    "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__", "pname": "fixture",
                    "creator": "VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)",
                    "created": 0, "vid_list": [f[0] for f in files]},
        "config": {"file": {"loc_prefix": {"1": "", "2": "", "3": "", "4": ""}}, "ui": {}},
        "attribute": {"1": {"aname": "class", "anchor_id": "FILE1_Z0_XY1", "type": 3, "desc": "",
                            "options": options, "default_option_id": ""}},
        "file": file_map,
        "view": view,
        "metadata": metadata,
    }
    write_json(os.path.join(base, "via_project.json"), project, indent=None)


# ---------------------------------------------------------------- CVAT for images 1.1

def fmt2(v):
    return f"{v:.2f}"


def cvat_points(points):
    s = ";".join(f"{fmt2(x)},{fmt2(y)}" for x, y in points)
    parsed = [float(c) for p in s.split(";") for c in p.split(",")]
    return s, parsed


def row_major_rle(bitmap):
    v = bitmap.flatten(order="C").astype(np.uint8)
    counts, cur, run = [], 0, 0
    for x in v:
        if x == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = x, 1
    counts.append(run)
    return counts


def make_cvat():
    base = os.path.join(OUT, "cvat")
    os.makedirs(os.path.join(base, "images"), exist_ok=True)

    # p.png 64x48: mask = ring-ish blob starting with background
    yy, xx = np.mgrid[0:10, 0:12]
    mask_p = (((xx - 5.5) ** 2 / 30 + (yy - 4.5) ** 2 / 20) <= 1) & ~((np.abs(xx - 6) <= 1) & (np.abs(yy - 4) <= 1))
    # q.png 48x40: mask whose top-left pixel is set (rle starts with "0, ..."), touching right/bottom edges
    mask_q = np.zeros((10, 8), bool)
    mask_q[0:6, 0:5] = True
    mask_q[4:10, 3:8] = True

    images = [
        ("p.png", 64, 48, (225, 225, 205), [
            ("polygon", "cat", 0, 0, {"points": [(4.5, 3), (20.25, 4), (22, 18.5), (6, 20)]}, [("color", "red")]),
            ("box", "dog", 1, 1, {"box": (26, 6, 40, 18)}, []),
            ("mask", "cat", 0, 0, {"left": 44, "top": 24, "bitmap": mask_p}, []),
            ("polyline", "dog", 0, 0, {"points": [(2, 40), (20, 44), (30, 40)]}, []),
            ("points", "cat", 0, 0, {"points": [(30, 30), (33, 31)]}, []),
        ]),
        ("q.png", 48, 40, (205, 225, 225), [
            ("polygon", "person", 0, 0, {"points": [(3, 2), (16.3, 5.7), (12.1, 22.9), (2.6, 19.4)]}, []),
            ("box", "person", 0, 2, {"box": (18.4, 3.6, 30.8, 17.2)}, []),
            ("mask", "dog", 0, 1, {"left": 40, "top": 30, "bitmap": mask_q}, []),
        ]),
    ]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             "  <meta>", "    <task>", "      <id>1</id>", "      <name>fixture</name>", "      <size>2</size>",
             "      <mode>annotation</mode>", "      <overlap>0</overlap>", "      <bugtracker></bugtracker>",
             "      <flipped>False</flipped>", "      <labels>"]
    for name, color in (("cat", "#fa3253"), ("dog", "#3d3df5"), ("person", "#33ddff")):
        lines += ["        <label>", f"          <name>{name}</name>", f"          <color>{color}</color>",
                  "          <type>any</type>", "          <attributes>"]
        if name == "cat":
            lines += ["            <attribute>", "              <name>color</name>",
                      "              <mutable>False</mutable>", "              <input_type>select</input_type>",
                      "              <default_value>red</default_value>", "              <values>red\nblue</values>",
                      "            </attribute>"]
        lines += ["          </attributes>", "        </label>"]
    lines += ["      </labels>", "    </task>", "  </meta>"]

    for img_id, (fname, w, h, bg, shapes) in enumerate(images):
        lines.append(f'  <image id="{img_id}" name="{fname}" width="{w}" height="{h}">')
        insts, draw = [], []
        for kind, label, occluded, z, geo, attrs in shapes:
            common = f'label={quoteattr(label)} source="manual" occluded="{occluded}"'
            if kind in ("polygon", "polyline", "points"):
                s, parsed = cvat_points(geo["points"])
                head = f'    <{kind} {common} points="{s}" z_order="{z}">'
                if kind == "polygon":
                    insts.append(poly_instance(label, [parsed], h, w))
                    draw.append((parsed, len(draw)))
            elif kind == "box":
                vals = [fmt2(v) for v in geo["box"]]
                head = (f'    <box {common} xtl="{vals[0]}" ytl="{vals[1]}" xbr="{vals[2]}" ybr="{vals[3]}"'
                        f' z_order="{z}">')
                p = rect_poly(*[float(v) for v in vals])
                insts.append(poly_instance(label, [p], h, w))
                draw.append((p, len(draw)))
            elif kind == "mask":
                bm = geo["bitmap"]
                bh, bw = bm.shape
                left, top = geo["left"], geo["top"]
                rle = ", ".join(str(c) for c in row_major_rle(bm))
                head = (f'    <mask {common} rle="{rle}" left="{left}" top="{top}" width="{bw}" height="{bh}"'
                        f' z_order="{z}">')
                full = np.zeros((h, w), np.uint8)
                full[top:top + bh, left:left + bw] = bm
                insts.append(instance(label, rle_of_mask(full)))
            lines.append(head)
            for an, av in attrs:
                lines.append(f"      <attribute name={quoteattr(an)}>{av}</attribute>")
            lines.append(f"    </{kind}>")
        lines.append("  </image>")
        img = picture(w, h, bg, draw)
        for kind, label, occluded, z, geo, attrs in shapes:
            if kind == "mask":
                arr = np.array(img)
                bm = geo["bitmap"]
                sub = arr[geo["top"]:geo["top"] + bm.shape[0], geo["left"]:geo["left"] + bm.shape[1]]
                sub[bm] = (90, 60, 30)
                img = Image.fromarray(arr)
        img.save(os.path.join(base, "images", fname))
        EXPECTED[f"cvat/images/{fname}"] = insts
    lines.append("</annotations>")
    write_text(os.path.join(base, "annotations.xml"), "\n".join(lines) + "\n")


# ---------------------------------------------------------------- Pascal VOC

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor"]


def voc_colormap(n=256):
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap += [r, g, b]
    return cmap


def dilate3(m):
    p = np.pad(m, 1)
    out = np.zeros_like(m)
    h, w = m.shape
    for dy in range(3):
        for dx in range(3):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def palette_png(arr, path, cmap):
    h, w = arr.shape
    im = Image.frombytes("P", (w, h), arr.astype(np.uint8).tobytes())
    im.putpalette(cmap)
    im.save(path)


def make_voc():
    base = os.path.join(OUT, "voc")
    for d in ("JPEGImages", "SegmentationObject", "SegmentationClass", os.path.join("ImageSets", "Segmentation")):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    cmap = voc_colormap()
    assert cmap[255 * 3:255 * 3 + 3] == [224, 224, 192]
    # objects painted in order (later ones occlude earlier ones): (class index, kind, params)
    images = [
        ("2007_000001", 64, 48, [(8, "ellipse", (18, 20, 12, 9)), (12, "rect", (38, 10, 58, 38))]),
        ("2007_000002", 48, 40, [(15, "rect", (6, 4, 26, 36)), (12, "ellipse", (28, 26, 12, 8))]),  # dog occludes person
        ("2007_000003", 56, 40, [(8, "rect", (3, 3, 16, 14)), (15, "ellipse", (30, 20, 7, 14)),
                                 (15, "rect", (42, 8, 53, 34))]),
    ]
    for stem, w, h, objs in images:
        obj = np.zeros((h, w), np.uint8)
        for k, (ci, kind, prm) in enumerate(objs, start=1):
            m = Image.new("L", (w, h), 0)
            d = ImageDraw.Draw(m)
            if kind == "rect":
                d.rectangle(prm, fill=1)
            else:
                cx, cy, rx, ry = prm
                d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=1)
            obj[np.array(m) > 0] = k
        border = np.zeros((h, w), bool)
        for k in range(1, len(objs) + 1):
            vis = obj == k
            border |= dilate3(vis) & ~vis
        obj[border] = 255
        cls_lut = np.zeros(256, np.uint8)
        cls_lut[255] = 255
        for k, (ci, _, _) in enumerate(objs, start=1):
            cls_lut[k] = ci
        cls = cls_lut[obj]
        palette_png(obj, os.path.join(base, "SegmentationObject", stem + ".png"), cmap)
        palette_png(cls, os.path.join(base, "SegmentationClass", stem + ".png"), cmap)
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:] = (120, 150, 170)
        for k, (ci, _, _) in enumerate(objs, start=1):
            rgb[obj == k] = PALETTE_COLORS[ci % len(PALETTE_COLORS)]
        rgb[obj == 255] = (90, 90, 90)
        Image.fromarray(rgb).save(os.path.join(base, "JPEGImages", stem + ".jpg"), quality=90)
        insts = []
        for k, (ci, _, _) in enumerate(objs, start=1):
            m = (obj == k).astype(np.uint8)
            assert m.sum() > 0
            insts.append(instance(VOC_CLASSES[ci], rle_of_mask(m)))
        EXPECTED[f"voc/JPEGImages/{stem}.jpg"] = insts
    write_text(os.path.join(base, "ImageSets", "Segmentation", "train.txt"), "2007_000001\n2007_000002\n")
    write_text(os.path.join(base, "ImageSets", "Segmentation", "val.txt"), "2007_000003\n")


# ---------------------------------------------------------------- traps

MUST_FAIL = []


def trap_shapes():
    return [
        lm_shape("cat", [[4, 5], [20, 30]], "rectangle"),
        lm_shape("dog", [[26, 6], [44, 10], [38, 34], [24, 26]], "polygon"),
    ]


def save_trap(case, img, ext, shapes, h, w, valid=True, json_hw=None, **save_kw):
    base = os.path.join(OUT, "traps", case)
    os.makedirs(base, exist_ok=True)
    fname = f"{case}.{ext}"
    img.save(os.path.join(base, fname), **save_kw)
    jh, jw = json_hw if json_hw else (h, w)
    write_json(os.path.join(base, f"{case}.json"), lm_doc(shapes, fname, jh, jw))
    key = f"traps/{case}/{fname}"
    if valid:
        EXPECTED[key] = lm_instances(shapes, h, w)
    else:
        MUST_FAIL.append(key)
    return key


def make_traps():
    w, h = 48, 40
    shapes = trap_shapes()
    draw = lm_draw_list(shapes)
    rgb = picture(w, h, (180, 200, 230), draw)
    yy, xx = np.mgrid[0:h, 0:w]

    # exif_rotated: viewed 30x40 (w x h), stored 40x30 with Orientation 6 (rotate 90 CW to view)
    vw, vh = 30, 40
    ex_shapes = [
        lm_shape("cat", [[3, 20], [14, 36]], "rectangle"),
        lm_shape("dog", [[16, 2], [28, 2], [28, 14]], "polygon"),  # triangle in the viewed top-right corner
    ]
    viewed = picture(vw, vh, (230, 210, 180), lm_draw_list(ex_shapes))
    stored = viewed.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: stored 40 wide x 30 high
    assert stored.size == (40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    key = save_trap("exif_rotated", stored, "jpg", ex_shapes, vh, vw, quality=95, exif=exif)
    chk = Image.open(os.path.join(OUT, key))
    assert chk.size == (40, 30) and chk.getexif().get(0x0112) == 6
    back = np.asarray(ImageOps.exif_transpose(chk)).astype(int)
    assert back.shape[:2] == (vh, vw) and np.abs(back - np.asarray(viewed).astype(int)).mean() < 8

    # gray16: 16-bit grayscale PNG with values > 255
    g16 = np.full((h, w), 1000, np.uint16)
    mk = np.array(picture(w, h, (0, 0, 0), draw).convert("L")) > 0
    g16[mk] = 40000 + (xx[mk] * 300).astype(np.uint16)
    im = Image.frombytes("I;16", (w, h), g16.astype("<u2").tobytes())
    key = save_trap("gray16", im, "png", shapes, h, w)
    chk = Image.open(os.path.join(OUT, key))
    assert chk.mode in ("I;16", "I") and np.asarray(chk).max() > 255, chk.mode

    # palette: mode P
    pal = rgb.quantize(colors=8, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    key = save_trap("palette", pal, "png", shapes, h, w)
    assert Image.open(os.path.join(OUT, key)).mode == "P"

    # rgba: transparent outside the shapes' bounding area (left and right strips)
    rgba = rgb.convert("RGBA")
    a = np.full((h, w), 255, np.uint8)
    a[:, :3] = 0
    a[:, w - 3:] = 0
    a[h - 4:, :] = 128
    rgba.putalpha(Image.fromarray(a))
    key = save_trap("rgba", rgba, "png", shapes, h, w)
    assert Image.open(os.path.join(OUT, key)).mode == "RGBA"

    # la: grey + alpha
    la = Image.merge("LA", (rgb.convert("L"), Image.fromarray(a)))
    key = save_trap("la", la, "png", shapes, h, w)
    assert Image.open(os.path.join(OUT, key)).mode == "LA"

    # gray: mode L
    key = save_trap("gray", rgb.convert("L"), "png", shapes, h, w)
    assert Image.open(os.path.join(OUT, key)).mode == "L"

    # cmyk: CMYK JPEG
    key = save_trap("cmyk", rgb.convert("CMYK"), "jpg", shapes, h, w, quality=90)
    assert Image.open(os.path.join(OUT, key)).mode == "CMYK"

    # progressive: progressive RGB JPEG
    key = save_trap("progressive", rgb, "jpg", shapes, h, w, quality=90, progressive=True)
    assert Image.open(os.path.join(OUT, key)).info.get("progressive") or \
        Image.open(os.path.join(OUT, key)).info.get("progression")

    # two_points: a polygon with only 2 points (must be an error)
    bad = shapes[:1] + [lm_shape("dog", [[26, 6], [44, 30]], "polygon")]
    save_trap("two_points", rgb, "png", bad, h, w, valid=False)

    # self_intersecting: bow-tie polygon (valid; the mask is whatever pycocotools rasterizes)
    bow = [lm_shape("cat", [[4, 4], [40, 34], [40, 4], [4, 34]], "polygon")]
    save_trap("self_intersecting", picture(w, h, (200, 200, 200), lm_draw_list(bow)), "png", bow, h, w)

    # unknown_shape: shape_type "hexagon" (must be an error)
    hexa = shapes[:1] + [lm_shape("dog", [[30, 5], [38, 9], [38, 17], [30, 21], [22, 17], [22, 9]], "hexagon")]
    save_trap("unknown_shape", rgb, "png", hexa, h, w, valid=False)

    # wrong_size: JSON says 64x48, the image is 48x40 (must be an error)
    save_trap("wrong_size", rgb, "png", shapes, h, w, valid=False, json_hw=(48, 64))



# ---------------------------------------------------------------- README

README = """\
# Annotation-tool reader fixtures

Generated by `tools/reference/make_annotation_fixtures.py` (do not edit by hand; rerun the script).
Reference masks come from pycocotools (`frPyObjects` + `merge`); see the script's docstring for the
shape -> polygon conventions every reader must follow.

- `expected.json` — `{"<format>/<image path relative to the format folder>": [{"class", "size": [h, w], "counts": uncompressed column-major COCO RLE, "area"}]}`; instances are unordered (compare as a multiset). Key `meta` describes the generator and the pycocotools version, and lists the inputs that must fail (`must_fail`; `must_fail_with_exif_ignore`). Images with no instance have `[]`; traps that must fail have no key.
- `labelme/` — labelme 5.3.1 JSON beside each image (`a.jpg`, `b.png`, `sub/c.png`: folders nest). Read every `*.json`; image = `imagePath` relative to the JSON. Instance key is (label, group_id): same label + same group_id = one instance (union); group_id null = one instance per shape. `line`/`point` shapes give no instance; polygons partly outside the image are clipped; overlapping shapes (plate under crème brûlée) each keep their full mask. `sub/c.png` has no shapes (empty list, not an error). Labels contain spaces and non-ASCII (UTF-8).
- `via2/via_project.json` — VIA 2.0.10 saved project; use `_via_img_metadata` (keys are `filename + size`), class = `region_attributes.class`. Shapes: polygon, polyline (closed), rect, circle, ellipse (with and without `theta`), point (no instance). `v3.png` has no regions.
- `via2/via_export.json` — the same annotations as "Export annotations (as json)" (just the metadata dict); `v2.jpg`'s `regions` uses the VIA 1.x dict form `{"0": ..., "1": ...}`. A reader must give the same result as for `via_project.json`.
- `via3/via_project.json` — VIA 3.0.x project; `metadata[*].xy` = [code, ...] (1 point: no instance, 2 rect, 3 circle, 4 ellipse, 6 polyline, 7 polygon), class = `attribute["1"].options[av["1"]]`, image = `file[view[vid].fid_list[0]].fname`.
- `cvat/annotations.xml` — CVAT for images 1.1; image names are relative to `cvat/images/`. polygon, box (sorted corners) and mask (row-major RLE over its box at left/top; first run is background, may be 0) are instances; polyline and points are not. `<attribute>` children and `occluded`/`z_order` do not change the mask.
- `voc/` — Pascal VOC 2012 segmentation layout. Stems from `ImageSets/Segmentation/{train,val}.txt`; instance i = pixels where `SegmentationObject/<stem>.png` (palette PNG, read the indices, not the colours) == i, 255 = void border (excluded), class = VOC class name of the `SegmentationClass` index on those pixels (8 cat, 12 dog, 15 person).
- `traps/exif_rotated/` — JPEG stored 40x30 with EXIF Orientation 6; the JSON (30x40) is drawn on the rotated view. Valid when EXIF orientation is applied (expected masks are 40 high x 30 wide); must be an error (size mismatch) with exif="ignore".
- `traps/gray16/`, `traps/palette/`, `traps/rgba/`, `traps/la/`, `traps/gray/`, `traps/cmyk/`, `traps/progressive/` — valid images in unusual modes (16-bit grey PNG, palette PNG, RGBA with transparency, grey+alpha, grey, CMYK JPEG, progressive JPEG), each with one rectangle + one polygon; must load and give the expected masks.
- `traps/self_intersecting/` — bow-tie polygon; valid, mask exactly as pycocotools rasterizes it.
- `traps/two_points/` — polygon with only 2 points: must be an error.
- `traps/unknown_shape/` — shape_type "hexagon": must be an error.
- `traps/wrong_size/` — imageWidth/imageHeight (64x48) differ from the image (48x40): must be an error.
"""


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    make_labelme()
    make_via2()
    make_via3()
    make_cvat()
    make_voc()
    make_traps()
    for k, v in EXPECTED.items():
        for inst in v:
            assert inst["area"] > 0, k
    out = {"meta": {
        "generator": "tools/reference/make_annotation_fixtures.py",
        "pycocotools": importlib.metadata.version("pycocotools"),
        "numpy": np.__version__,
        "pillow": Image.__version__,
        "rasterizer": "pycocotools.mask.frPyObjects(polys, h, w) + merge; CVAT/VOC masks via mask.encode",
        "counts": "uncompressed COCO RLE: column-major runs, first run = zeros",
        "must_fail": MUST_FAIL,
        "must_fail_with_exif_ignore": ["traps/exif_rotated/exif_rotated.jpg"],
    }}
    out.update(sorted(EXPECTED.items()))
    # one line per image key: small, and diffs stay readable
    body = ",\n".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in out.items())
    write_text(os.path.join(OUT, "expected.json"), "{\n" + body + "\n}\n")
    write_text(os.path.join(OUT, "README.md"), README)
    print(f"wrote {OUT}: {len(EXPECTED)} images, {sum(len(v) for v in EXPECTED.values())} instances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
