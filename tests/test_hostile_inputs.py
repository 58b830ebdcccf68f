"""Damaged and hostile inputs of `edgetam-export track`: prompt JSON (--prompts), mask PNGs, video files
and frame folders. Each ends in one message naming the file, a non-zero exit status, no traceback, and
nothing written; a mutation that may go unnoticed (a flipped bit in pixels) runs or is refused cleanly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from edgetam_export.clip import disc_mask, synthetic_clip
from tests.faults.mutate import assert_clean, assert_refused, cli, count, flip_bits, png_with_size, truncate

N, H, W = 4, 40, 48


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    frames = synthetic_clip(N, H, W)
    (folder := root / "frames").mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    with av.open(str(root / "clip.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    Image.fromarray(disc_mask(H, W, 0.3, 0.35).astype(np.uint8) * 255).save(root / "mask.png")
    (root / "prompts.json").write_text(json.dumps([{"frame": 0, "obj": 1, "mask": "mask.png"}]))
    return {"root": root, "frames": folder, "mp4": root / "clip.mp4"}


def track(model: Path, video: Path, out: Path, *prompt: object):
    return cli("track", model, video, *(prompt or ("--point", "20,20")), "--out", out, "--no-progress")


def refused_and_nothing_written(result, out: Path, *names: str) -> str:
    message = assert_refused(result, *names)
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return message


def copy_inputs(inputs: dict, tmp_path: Path) -> Path:
    root = tmp_path / "in"
    shutil.copytree(inputs["root"], root)
    return root


def test_the_unmutated_inputs_track(onnx_export_256, inputs, tmp_path) -> None:
    model = onnx_export_256[2]
    for video in (inputs["frames"], inputs["mp4"]):
        result = track(model, video, tmp_path / video.name, "--prompts", inputs["root"] / "prompts.json")
        assert result.exit_code == 0, result.output


PROMPT_FILES = {
    "truncated": b'[{"frame": 0, "obj": 1, "points": [[1',
    "not_utf8": b'[{"frame": 0, "obj": 1, "points": [[1, 2]], "x": "\xff"}]',
    "nested_too_deep": b"[" * 100_000 + b"]" * 100_000,
    "nan": b'[{"frame": 0, "obj": 1, "points": [[NaN, 2]]}]',
    "overflowing_number": b'[{"frame": 0, "obj": 1, "points": [[1e400, 2]]}]',
    "huge_frame": b'[{"frame": 99999999999999999999, "obj": 1, "points": [[1, 2]]}]',
    "negative_object": b'[{"frame": 0, "obj": -3, "points": [[1, 2]]}]',
    "points_text": b'[{"frame": 0, "obj": 1, "points": "here"}]',
    "labels_bool": b'[{"frame": 0, "obj": 1, "points": [[1, 2]], "labels": [true]}]',
    "box_short": b'[{"frame": 0, "obj": 1, "box": [1, 2, 3]}]',
    "unknown_key": b'[{"frame": 0, "obj": 1, "points": [[1, 2]], "colour": "red"}]',
    "an_object": b'{"frame": 0}',
    "empty_list": b"[]",
    "mask_not_text": b'[{"frame": 0, "obj": 1, "mask": 7}]',
    "mask_missing": b'[{"frame": 0, "obj": 1, "mask": "nowhere.png"}]',
    "point_outside": b'[{"frame": 0, "obj": 1, "points": [[480, 2]]}]',
    "twice": b'[{"frame": 0, "obj": 1, "points": [[1, 2]]}, {"frame": 0, "obj": 1, "box": [1, 2, 3, 4]}]',
}


@pytest.mark.parametrize("name", PROMPT_FILES)
def test_a_damaged_prompts_file_is_refused(onnx_export_256, inputs, tmp_path, name) -> None:
    path = tmp_path / "prompts.json"
    path.write_bytes(PROMPT_FILES[name])
    out = tmp_path / "run"
    refused_and_nothing_written(track(onnx_export_256[2], inputs["frames"], out, "--prompts", path), out, path.name)
    count("input_mutations")


MASKS = {
    "truncated": lambda p: truncate(p, 0.5),
    "header_only": lambda p: truncate(p, 30),
    "text": lambda p: p.write_text("not a png"),
    "bomb_header": lambda p: png_with_size(p, 60_000, 60_000),
    "wrong_size": lambda p: Image.fromarray(np.ones((H + 2, W), np.uint8) * 255).save(p),
    "a_directory": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("name", MASKS)
def test_a_damaged_mask_png_is_refused(onnx_export_256, inputs, tmp_path, name) -> None:
    root = copy_inputs(inputs, tmp_path)
    MASKS[name](root / "mask.png")
    out = tmp_path / "run"
    for prompt in (("--mask", root / "mask.png"), ("--prompts", root / "prompts.json")):
        refused_and_nothing_written(track(onnx_export_256[2], inputs["frames"], out, *prompt), out, "mask.png")
        count("input_mutations")


VIDEOS = {
    "empty": lambda p: truncate(p, 0),
    "truncated_header": lambda p: truncate(p, 48),
    "text": lambda p: p.write_text("not a video\n" * 10),
    "garbage_start": lambda p: flip_bits(p, 0, flips=64, end=64),
}


@pytest.mark.parametrize("name", VIDEOS)
def test_a_damaged_video_is_refused(onnx_export_256, inputs, tmp_path, name) -> None:
    video = shutil.copy(inputs["mp4"], tmp_path / "clip.mp4")
    VIDEOS[name](Path(video))
    refused_and_nothing_written(track(onnx_export_256[2], video, tmp_path / "run"), tmp_path / "run", "clip.mp4")
    count("input_mutations")


@pytest.mark.parametrize("case", [("cut", 0.6), ("cut", 0.85), ("flips", 1), ("flips", 2), ("flips", 3)])
def test_a_cut_or_bit_flipped_video_tracks_or_is_refused_cleanly(onnx_export_256, inputs, tmp_path, case) -> None:
    video = Path(shutil.copy(inputs["mp4"], tmp_path / "clip.mp4"))
    kind, value = case
    if kind == "cut":
        truncate(video, value)
    else:
        flip_bits(video, value, flips=24, start=64)
    result = track(onnx_export_256[2], video, tmp_path / "run")
    assert_clean(result)
    if result.exit_code != 0:
        assert "clip.mp4" in result.output
    count("input_mutations")


FOLDERS = {
    "corrupt_frame": lambda f: truncate(f / "002.png", 0.5),
    "text_frame": lambda f: (f / "001.png").write_text("no image"),
    "bomb_frame": lambda f: png_with_size(f / "001.png", 60_000, 60_000),
    "other_size": lambda f: Image.fromarray(np.zeros((H, W + 2, 3), np.uint8)).save(f / "003.png"),
    "directory_named_png": lambda f: (f / "004.png").mkdir(),
    "no_images": lambda f: [p.unlink() for p in f.iterdir()],
    "flipped_pixels_header": lambda f: flip_bits(f / "000.png", 4, flips=12, start=8, end=33),
}


@pytest.mark.parametrize("name", FOLDERS)
def test_a_damaged_frame_folder_is_refused(onnx_export_256, inputs, tmp_path, name) -> None:
    folder = Path(shutil.copytree(inputs["frames"], tmp_path / "frames"))
    FOLDERS[name](folder)
    out = tmp_path / "run"
    refused_and_nothing_written(track(onnx_export_256[2], folder, out), out, str(folder))
    count("input_mutations")
