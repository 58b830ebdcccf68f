"""Test vectors for the Swift package (ios_demo): what the Python runtime computes, for Swift to equal.

    PYTHONPATH=$PWD .venv/bin/python -m tests.swift_vectors build/swift-test-data/vectors

Writes, into one folder (staged, then swapped into place):
- preprocess.safetensors + preprocess.json: frames of odd sizes, their uint8 antialiased resize to S×S and the
  normalized image encoder input (runtime/preprocess.py);
- resize.safetensors + resize.json: float32 planes through resize_bilinear and resize_bilinear_antialias;
- prompts.json: point/box/mask prompt conversions and the validation errors (runtime/prompts.py);
- memory.json: select_memories / select_closest_cond_frames tables over random banks (runtime/memory_bank.py);
- bfloat16.safetensors: float32 values (ties, NaN, inf, subnormals, random) and their bfloat16 bits;
- manifest.json: the manifest of a real ONNX export at image size 256 (synthetic weights).
Nothing here is committed; `make swift-test-data` regenerates it.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from runtime.errors import InputError
from runtime.memory_bank import select_closest_cond_frames, select_memories, to_bfloat16_bits
from runtime.preprocess import preprocess_frame
from runtime.prompts import mask_prompt, point_prompt
from runtime.resize import resize_bilinear, resize_bilinear_antialias, resize_uint8_antialias_bilinear
from runtime.staging import staged_folder

SEED = 11
FRAME_SIZES = [(1, 1), (7, 5), (75, 131), (480, 640), (301, 2000)]  # (H, W)
IMAGE_SIZES = [256, 1024]
NORMALIZED_AT_1024 = {(480, 640)}  # the float input is large at 1024²: keep one; the uint8 resize covers the rest


def preprocess_vectors(out: Path, rng: np.random.Generator) -> None:
    tensors: dict[str, np.ndarray] = {}
    cases = []
    for h, w in FRAME_SIZES:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        tensors[f"frame_{h}x{w}"] = frame
        for s in IMAGE_SIZES:
            name = f"{h}x{w}_to_{s}"
            tensors[f"resized_{name}"] = resize_uint8_antialias_bilinear(frame, s, s)
            normalized = s == 256 or (h, w) in NORMALIZED_AT_1024
            if normalized:
                tensors[f"image_{name}"] = preprocess_frame(frame, s)
            cases.append({"frame": f"frame_{h}x{w}", "size": s, "name": name, "normalized": normalized})
    save_file(tensors, str(out / "preprocess.safetensors"))
    (out / "preprocess.json").write_text(json.dumps({"cases": cases}, indent=1))


def resize_vectors(out: Path, rng: np.random.Generator) -> None:
    tensors: dict[str, np.ndarray] = {}
    cases = []
    shapes = [
        ((2, 64, 64), (75, 131)),  # low-res logits to a frame
        ((1, 16, 16), (7, 5)),
        ((1, 7, 5), (256, 256)),  # a tiny mask prompt up to the model size
        ((3, 256, 256), (75, 131)),
        ((1, 75, 131), (256, 256)),
        ((1, 480, 640), (256, 256)),
        ((1, 64, 64), (64, 64)),  # same size: copies
        ((1, 33, 1), (10, 3)),
    ]
    for i, (shape, (h, w)) in enumerate(shapes):
        x = (rng.standard_normal(shape) * 8).astype(np.float32)
        binary = (rng.random(shape) < 0.4).astype(np.float32)
        for kind, source in (("logits", x), ("binary", binary)):
            name = f"case{i}_{kind}"
            tensors[f"in_{name}"] = source
            tensors[f"bilinear_{name}"] = resize_bilinear(source, h, w)
            tensors[f"antialias_{name}"] = resize_bilinear_antialias(source, h, w)
            cases.append({"name": name, "height": h, "width": w})
    save_file(tensors, str(out / "resize.safetensors"))
    (out / "resize.json").write_text(json.dumps({"cases": cases}, indent=1))


def _json_number(v: float) -> float | str:
    """Non-finite numbers as the strings Swift's JSONDecoder reads (convertFromString: NaN, Infinity)."""
    if np.isnan(v):
        return "NaN"
    return v if np.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")


def _prompt_case(points, labels, box, width, height, image_size) -> dict:
    case = {
        "points": None if points is None else [[_json_number(v) for v in p] for p in points],
        "labels": labels,
        "box": None if box is None else [_json_number(v) for v in box],
        "width": width,
        "height": height,
        "image_size": image_size,
    }
    try:
        coords, codes = point_prompt(points, labels, box, width, height, image_size)
    except InputError as exc:
        return {**case, "error": "InputError", "message": str(exc)}
    return {**case, "coords": [[float(v) for v in row] for row in coords], "codes": [float(v) for v in codes]}


def prompt_vectors(out: Path, rng: np.random.Generator) -> None:
    cases = []
    for _ in range(60):
        width, height = int(rng.integers(1, 2000)), int(rng.integers(1, 2000))
        size = int(rng.choice([256, 512, 1024]))
        n = int(rng.integers(1, 5))
        points = [[float(rng.uniform(0, width)), float(rng.uniform(0, height))] for _ in range(n)]
        labels = [int(v) for v in rng.integers(0, 2, n)]
        x0, x1 = sorted(float(v) for v in rng.uniform(0, width, 2))
        y0, y1 = sorted(float(v) for v in rng.uniform(0, height, 2))
        box = [x0, y0, x1, y1]
        kind = int(rng.integers(0, 3))
        cases.append(
            _prompt_case(
                points if kind != 1 else None,
                labels if kind != 1 else None,
                box if kind != 0 else None,
                width,
                height,
                size,
            )
        )
    w, h = 131, 75
    edge_cases = [
        ([[0, 0], [131, 75]], [1, 0], None),  # the frame's corners are inside
        ([[131.0001, 3]], [1], None),  # outside
        ([[-0.5, 3]], [1], None),
        ([[3, 76]], [0], None),
        ([[float("nan"), 3]], [1], None),
        ([[float("inf"), 3]], [1], None),
        ([[3, 3]], [2], None),  # a box-corner label
        ([[3, 3]], [-1], None),
        ([[3, 3], [4, 4]], [1], None),  # label count
        ([], [], None),  # no points
        ([[3, 3]], None, None),  # points without labels
        (None, [1], None),
        (None, None, None),  # nothing
        (None, None, [10, 20, 5, 30]),  # x1 < x0
        (None, None, [10, 20, 30, 10]),  # y1 < y0
        (None, None, [10, 20, 10, 20]),  # a degenerate box is allowed
        (None, None, [10, 20, 140, 30]),  # a corner outside
        (None, None, [10, float("nan"), 20, 30]),
        ([[5, 6]], [1], [0, 0, 131, 75]),  # box then points
    ]
    for points, labels, box in edge_cases:
        cases.append(_prompt_case(points, labels, box, w, h, 1024))
    masks = []
    for mh, mw, fh, fw in [(5, 7, 5, 7), (5, 7, 7, 5), (1, 1, 1, 1), (4, 4, 5, 4)]:
        mask = rng.integers(0, 3, (mh, mw)).astype(np.uint8)
        entry = {"mask": mask.tolist(), "width": fw, "height": fh}
        try:
            entry["binary"] = mask_prompt(mask, fw, fh).tolist()
        except InputError:
            entry["error"] = "InputError"
        masks.append(entry)
    (out / "prompts.json").write_text(json.dumps({"points": cases, "masks": masks}, indent=1, allow_nan=False))


def memory_vectors(out: Path) -> None:
    rnd = random.Random(SEED)
    selections = []
    for _ in range(400):
        num_frames = rnd.randint(1, 40)
        frame_idx = rnd.randrange(num_frames)
        cond = rnd.sample(range(num_frames), rnd.randint(1, min(num_frames, 8)))  # insertion order matters
        non_cond = sorted(t for t in range(num_frames) if t not in cond and rnd.random() < 0.6)
        num_maskmem = rnd.choice([7, 7, 3])
        max_obj_ptrs = rnd.choice([16, 16, 4])
        max_cond = rnd.choice([None, None, 2, 3, 4])
        known_length = rnd.random() < 0.7
        reverse = rnd.random() < 0.4
        sel = select_memories(
            frame_idx,
            cond,
            set(non_cond),
            num_maskmem=num_maskmem,
            max_obj_ptrs=max_obj_ptrs,
            max_cond=max_cond,
            num_frames=num_frames if known_length else None,
            reverse=reverse,
        )
        selections.append(
            {
                "frame_idx": frame_idx,
                "cond_frames": cond,
                "non_cond_frames": non_cond,
                "num_maskmem": num_maskmem,
                "max_obj_ptrs": max_obj_ptrs,
                "max_cond": max_cond,
                "num_frames": num_frames if known_length else None,
                "reverse": reverse,
                "cond": list(sel.cond),
                "recent": [None if r is None else [r[0], r[1]] for r in sel.recent],
                "ptrs": [[t, from_cond] for t, from_cond in sel.ptrs],
            }
        )
    closest = []
    for _ in range(200):
        frames = rnd.sample(range(30), rnd.randint(0, 9))
        frame_idx = rnd.randrange(30)
        max_cond = rnd.choice([None, 0, 1, 2, 3, 5])
        entry = {"frame_idx": frame_idx, "cond_frames": frames, "max_cond": max_cond}
        try:
            entry["selected"] = select_closest_cond_frames(frame_idx, frames, max_cond)
        except ValueError:
            entry["error"] = True
        closest.append(entry)
    (out / "memory.json").write_text(json.dumps({"select_memories": selections, "closest": closest}, indent=1))


def bfloat16_vectors(out: Path, rng: np.random.Generator) -> None:
    # fmt: off
    special = [  # one line per group of bit patterns
        0x00000000, 0x80000000, 0x3F800000, 0xBF800000,  # ±0, ±1
        0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0xFFFFFFFF,  # inf, NaN
        0x7F7FFFFF, 0xFF7FFFFF,  # the largest floats round to infinity
        0x00000001, 0x00008000, 0x00018000, 0x007FFFFF, 0x80008001,  # subnormals, ties
        0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3F807FFF, 0xBF808000, 0xBF818000,  # ties to even, near ties
    ]
    # fmt: on
    bits = np.concatenate(
        [
            np.array(special, dtype=np.uint32),
            (rng.standard_normal(2000) * 3).astype(np.float32).view(np.uint32),
            rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32),
        ]
    )
    values = bits.view(np.float32)
    save_file({"float32": values, "bfloat16_bits": to_bfloat16_bits(values)}, str(out / "bfloat16.safetensors"))


def manifest_vector(out: Path) -> None:
    from edgetam_export.export import ExportOptions, export_all
    from reference_model.checkpoint import synthetic_model
    from reference_model.config import EdgeTamConfig

    model, weights = synthetic_model(1, EdgeTamConfig(image_size=256))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = export_all(model, weights, Path(tmp) / "export", ExportOptions(formats=("onnx",)))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def write_vectors(folder: Path, with_manifest: bool = True) -> None:
    rng = np.random.default_rng(SEED)
    with staged_folder(folder, RuntimeError) as out:
        preprocess_vectors(out, rng)
        resize_vectors(out, rng)
        prompt_vectors(out, rng)
        memory_vectors(out)
        bfloat16_vectors(out, rng)
        if with_manifest:
            manifest_vector(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.swift_vectors OUT_FOLDER   (e.g. build/swift-test-data/vectors)")
    write_vectors(Path(sys.argv[1]))
