"""`edgetam-export track`: video/frame-folder input, the written overlay, masks and summary against the
runtime's own results, streaming against offline, and every bad input through the command line."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgetam_export import track as tracking
from edgetam_export.cli import main
from edgetam_export.clip import disc_mask, synthetic_clip
from edgetam_export.video_io import OverlayWriter, open_video
from reference_model import EdgeTamConfig, synthetic_model
from runtime import Tracker
from runtime.backends.torch import TorchBackend

N, H, W = 6, 96, 128
FPS = 24
RED = (0.30 * W, 0.35 * H)  # centre of the red disc on frame 0 (clip.disc_centres)
GREEN_BOX = [71.0, 17.0, 95.0, 41.0]  # around the green disc on frame 0
FAST = ["--random-init", "--image-size", "256", "--no-progress"]


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    model, info = synthetic_model(1, EdgeTamConfig(image_size=256))
    return Tracker(TorchBackend(model, info))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synthetic_clip(N, H, W)


def write_mp4(path: Path, frames: list[np.ndarray], fps: int = FPS, gop: int | None = None, rotation=None) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode(path: Path) -> tuple[list[np.ndarray], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], stream.average_rate


@pytest.fixture(scope="module")
def mp4(tmp_path_factory, frames) -> Path:
    return write_mp4(tmp_path_factory.mktemp("video") / "clip.mp4", frames)


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory, frames) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame{i}.png")
    return folder


def two_objects(frame: int = 0) -> list[tracking.Prompt]:
    return [
        tracking.Prompt(frame, 1, points=[list(RED)], labels=[1]),
        tracking.Prompt(frame, 2, box=GREEN_BOX),
    ]


def runtime_masks(tracker, frames, prompts, start=None, max_frames=None, reverse=False) -> dict:
    """The runtime's own results for the same prompts: {(frame, obj): mask}, plus scores."""
    session = tracker.start(frames)
    for p in prompts:
        if p.mask is not None:
            session.add_prompt(p.frame, p.obj, mask=p.mask)
        else:
            session.add_prompt(p.frame, p.obj, points=p.points, labels=p.labels, box=p.box)
    masks, scores = {}, {}
    for r in session.propagate(start, max_frames, reverse):
        for obj, logits, score in zip(r.obj_ids, r.mask_logits, r.object_score_logits):
            masks[(r.frame_idx, obj)], scores[(r.frame_idx, obj)] = logits > 0, float(score)
    return masks, scores


def check_summary_matches_masks(summary: dict, masks: dict) -> None:
    seen = set()
    for row in summary["frames"]:
        for entry in row["objects"]:
            mask = masks[(row["frame"], entry["obj"])]
            seen.add((row["frame"], entry["obj"]))
            assert entry["area"] == int(mask.sum())
            if mask.any():
                ys, xs = np.nonzero(mask)
                assert entry["bbox"] == [xs.min(), ys.min(), xs.max(), ys.max()]
            else:
                assert entry["bbox"] is None
    assert seen == set(masks)


# ------------------------------------------------------------------------------------ end to end


def test_mp4_outputs_match_the_runtime(tracker, mp4, tmp_path):
    out = tmp_path / "run"
    result = tracking.track(tracker, mp4, two_objects(), out, progress=False, model={"source": "test"})
    assert result.overlay == out / "overlay.mp4" and sorted(p.name for p in out.iterdir()) == [
        "masks.npz",
        "overlay.mp4",
        "summary.json",
    ]
    assert not list(tmp_path.glob(".run.*")), "staging folder left behind"

    # masks.npz holds exactly the runtime's masks (on the frames as decoded from the mp4)
    video = open_video(mp4)
    decoded = [video[i] for i in range(len(video))]
    want, scores = runtime_masks(tracker, decoded, two_objects())
    got = tracking.load_masks(result.masks)
    assert set(got) == set(want) == {(f, o) for f in range(N) for o in (1, 2)}
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=str(key))
    assert any(m.any() for m in got.values()) and not all(m.all() for m in got.values())
    with np.load(result.masks) as data:  # the documented layout
        assert int(data["height"]) == H and int(data["width"]) == W
        assert data["obj_ids"].tolist() == [1, 2] and data["frames"].tolist() == list(range(N))
        assert data["f000003_o2"].dtype == np.uint8 and data["f000003_o2"].shape == ((H * W + 7) // 8,)

    # summary.json agrees with the masks and the runtime's scores
    summary = json.loads((out / "summary.json").read_text())
    check_summary_matches_masks(summary, got)
    for row in summary["frames"]:
        for entry in row["objects"]:
            assert entry["score"] == pytest.approx(scores[(row["frame"], entry["obj"])], rel=1e-6)
    assert summary["input"] == {"path": str(mp4), "kind": "video", "frames": N, "height": H, "width": W, "fps": 24.0}
    assert summary["model"]["backend"] == "torch" and summary["weights"] == {"kind": "synthetic", "seed": 1}
    assert summary["masks_format"] == tracking.MASKS_FORMAT and summary["tracking"]["frames"] == N
    assert summary["timings"]["frames_per_second"] > 0 and summary["timings"]["per_frame_ms_mean"] > 0
    assert summary["prompts"][1] == {"frame": 0, "obj": 2, "box": GREEN_BOX}

    # the overlay: same frame count, size and rate as the input, showing the blended masks. Compared in luma:
    # yuv420p keeps colour at half resolution, and synthetic weights make speckled masks.
    overlay, rate = decode(result.overlay)
    assert len(overlay) == N and overlay[0].shape == (H, W, 3) and rate == FPS
    colours = [tracking.object_colour(0), tracking.object_colour(1)]
    for i, image in enumerate(overlay):
        expected = tracking.blend(decoded[i], [got[(i, 1)], got[(i, 2)]], colours)
        error, change = np.abs(luma(image) - luma(expected)).mean(), np.abs(luma(expected) - luma(decoded[i])).mean()
        assert error < 4 and error < change / 2, (i, error, change)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_png_folder_reverse_with_a_prompts_file(tracker, png_dir, frames, tmp_path):
    mask = disc_mask(H, W, *(0.30 + 0.3 * 4 / 5, 0.35))  # the red disc on frame 4
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "red.png")
    entries = [{"frame": 4, "obj": 7, "mask": "red.png"}, {"frame": 4, "obj": 3, "points": [[83, 62]]}]
    (tmp_path / "prompts.json").write_text(json.dumps(entries))
    prompts = tracking.read_prompts_file(tmp_path / "prompts.json")
    assert prompts[1].labels == [1] and prompts[0].mask.shape == (H, W)

    video = open_video(png_dir)
    assert video.kind == "frames" and len(video) == N and video.fps == 30
    result = tracking.track(tracker, video, prompts, tmp_path / "out", reverse=True, max_frames=3, progress=False)
    want, _ = runtime_masks(tracker, frames, prompts, start=4, max_frames=2, reverse=True)
    got = tracking.load_masks(result.masks)
    assert set(got) == set(want) == {(f, o) for f in (2, 3, 4) for o in (7, 3)}
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=str(key))
    summary = result.summary
    check_summary_matches_masks(summary, got)
    assert [row["frame"] for row in summary["frames"]] == [2, 3, 4]
    assert summary["tracking"] == {
        "mode": "offline",
        "reverse": True,
        "start_frame": 4,
        "max_frames": 3,
        "frames": 3,
    }
    assert summary["prompts"][0]["mask"] == str(tmp_path / "red.png")
    # the overlay runs forwards in time (frames 2, 3, 4) though tracking ran backwards; 30 fps for a folder
    overlay, rate = decode(result.overlay)
    assert len(overlay) == 3 and rate == 30
    for k, image in enumerate(overlay):
        distances = [np.abs(image.astype(int) - f.astype(int)).mean() for f in frames]
        assert int(np.argmin(distances)) == 2 + k


def test_stream_gives_the_offline_masks(tracker, png_dir, tmp_path):
    prompts = two_objects(frame=1)
    prompts[0].points = [[0.30 * W + 4, 0.35 * H]]  # the red disc has moved a little by frame 1
    offline = tracking.track(tracker, png_dir, prompts, tmp_path / "offline", progress=False)
    stream = tracking.track(tracker, png_dir, prompts, tmp_path / "stream", stream=True, progress=False)
    a, b = tracking.load_masks(offline.masks), tracking.load_masks(stream.masks)
    assert set(a) == set(b) == {(f, o) for f in range(1, N) for o in (1, 2)}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))
    # frame 0 was pushed before any prompt: in the stream's output with no objects
    assert stream.summary["frames"][0] == {"frame": 0, "objects": []}
    assert stream.summary["frames"][1:] == offline.summary["frames"]
    assert len(decode(stream.overlay)[0]) == N and len(decode(offline.overlay)[0]) == N - 1


def test_cli_end_to_end_random_init(mp4, tmp_path):
    out = tmp_path / "cli"
    args = ["track", *FAST, str(mp4), "--out", str(out), "--point", f"{RED[0]},{RED[1]}", "--max-frames", "4"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"overlay: {out / 'overlay.mp4'}" in result.output and "synthetic weights" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["source"] == "random-init" and summary["weights"] == {"kind": "synthetic", "seed": 0}
    assert summary["tracking"]["frames"] == 4 and len(decode(out / "overlay.mp4")[0]) == 4
    masks = tracking.load_masks(out / "masks.npz")
    assert set(masks) == {(f, 1) for f in range(4)}
    check_summary_matches_masks(summary, masks)


def test_cli_replaces_an_earlier_run_and_cleans_up_a_failed_one(tracker, png_dir, frames, tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "load_tracker", lambda *a, **k: (tracker, {"source": "fixture"}))
    out = tmp_path / "out"
    args = ["track", *FAST, str(png_dir), "--out", str(out), "--box", ",".join(map(str, GREEN_BOX))]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*args, "--stream", "--max-frames", "2", "--fps", "12.5"])
    assert again.exit_code == 0, again.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracking"]["mode"] == "stream" and summary["overlay"]["fps"] == 12.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    # a frame that fails to decode mid-run: a message, no traceback, the earlier output untouched
    broken = tmp_path / "broken"
    broken.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(broken / f"{i:03d}.png")
    data = (broken / "003.png").read_bytes()
    (broken / "003.png").write_bytes(data[: len(data) // 2])
    failed = CliRunner().invoke(main, ["track", *FAST, str(broken), "--out", str(out), "--point", "40,30"])
    assert failed.exit_code == 1 and "003.png: cannot decode the image" in failed.output, failed.output
    assert "Traceback" not in failed.output
    assert json.loads((out / "summary.json").read_text()) == summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "out"]


# ----------------------------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, frames) -> Path:
    root = tmp_path_factory.mktemp("bad")
    (root / "garbage.mp4").write_bytes(b"this is not a video " * 100)
    (root / "zero.mp4").write_bytes(b"")
    with av.open(str(root / "empty.mkv"), "w") as container:  # a header and no frames
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()
    (root / "empty_folder").mkdir()
    (root / "mixed").mkdir()
    Image.fromarray(frames[0]).save(root / "mixed" / "a.png")
    Image.fromarray(frames[1][:50]).save(root / "mixed" / "b.png")
    (root / "notimage").mkdir()
    (root / "notimage" / "0.jpg").write_text("not a jpeg")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "small_mask.png")
    (root / "bad.json").write_text("[{'frame': 0}]")
    (root / "unknown_key.json").write_text(json.dumps([{"frame": 0, "obj": 1, "point": [[5, 5]]}]))
    (root / "bad_points.json").write_text(json.dumps([{"frame": 0, "points": [[5, "x"]]}]))
    (root / "late_object.json").write_text(
        json.dumps([{"frame": 0, "obj": 1, "points": [[40, 30]]}, {"frame": 2, "obj": 2, "box": GREEN_BOX}])
    )
    (root / "junk.pt").write_bytes(b"not a checkpoint")
    (root / "export").mkdir()
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("mine")
    return root


P = ["--point", "40,30"]
BAD = [
    (["{v}/missing.mp4", *P], "missing.mp4: no such video file or frame folder"),
    (["{bad}/garbage.mp4", *P], "garbage.mp4: cannot read it as a video"),
    (["{bad}/zero.mp4", *P], "zero.mp4: the file is empty"),
    (["{bad}/empty.mkv", *P], "empty.mkv: the video has no frames"),
    (["{bad}/empty_folder", *P], "empty_folder: the folder holds no JPEG or PNG images"),
    (["{bad}/mixed", *P], "mixed: frames differ in size: a.png is 128×96 but b.png is 128×50"),
    (["{bad}/notimage", *P], "0.jpg: cannot read it as an image"),
    (["{mp4}", "--point", "1,nan"], "--point '1,nan': 'nan' is not a finite number"),
    (["{mp4}", "--point", "abc"], "--point 'abc': expected X,Y or X,Y,LABEL"),
    (["{mp4}", "--point", "1,x"], "--point '1,x': 'x' is not a number"),
    (["{mp4}", "--point", "10,10,2"], "the label is 1 (positive) or 0 (negative)"),
    (["{mp4}", "--point", "500,10"], "points [[500.0, 10.0]] lie outside the 128×96 frame"),
    (["{mp4}", "--box", "1,2,3"], "--box '1,2,3': expected X0,Y0,X1,Y1"),
    (["{mp4}", "--box", "50,10,20,40"], "has x1 < x0"),
    (["{mp4}", "--mask", "{bad}/small_mask.png"], "is 10×10 but the video frames are 128×96"),
    (["{mp4}", "--mask", "{bad}/nope.png"], "nope.png: no such mask file"),
    (["{mp4}", "--mask", "{bad}/small_mask.png", *P], "give --mask alone, or --point/--box"),
    (["{mp4}", *P, "--frame", "9"], "frame 9 is outside the video"),
    (["{mp4}"], "nothing to track"),
    (["{mp4}", "--prompts", "{bad}/bad.json"], "bad.json: not valid JSON"),
    (["{mp4}", "--prompts", "{bad}/unknown_key.json"], "entry 0: unknown keys ['point']"),
    (["{mp4}", "--prompts", "{bad}/bad_points.json"], "'points' must be a non-empty list of [x, y] numbers"),
    (["{mp4}", "--prompts", "{bad}/bad.json", *P], "give --prompts FILE.json or --point/--box/--mask, not both"),
    (["{mp4}", "--prompts", "{bad}/late_object.json", "--stream"], "objects [2] are first prompted after frame 0"),
    (["{mp4}", *P, "--reverse"], "there is nothing before it"),
    (["{mp4}", *P, "--frame", "2", "--reverse", "--stream"], "--stream tracks frames as they arrive, forwards only"),
    (["{mp4}", *P, "--fps", "nan"], "--fps must be a positive number"),
    (["{mp4}", *P, "--max-frames", "0"], "Invalid value for '--max-frames'"),
    (["{mp4}", *P, "--out", "{bad}/full"], "the folder is not empty and holds no summary.json"),
]
BAD_MODEL = [
    (["{mp4}", *P], "give MODEL and VIDEO, or --random-init and VIDEO"),
    (["{v}/nomodel", "{mp4}", *P], "nomodel: no such model"),
    (["{bad}/junk.pt", "{mp4}", *P], "cannot read {bad}/junk.pt as a PyTorch checkpoint"),
    (["{bad}/export", "{mp4}", *P, "--backend", "onnx"], "export has no manifest.json"),
    (["--backend", "onnx", "{mp4}", *P], "--random-init builds a torch model"),
]


def _run_bad(args: list[str], message: str, random_init: bool, mp4: Path, bad: Path, tmp_path: Path) -> None:
    fill = {"v": str(tmp_path), "bad": str(bad), "mp4": str(mp4)}
    args = [a.format(**fill) for a in args]
    out = tmp_path / "out"
    if "--out" not in args:
        args += ["--out", str(out)]
    before = sorted(p.name for p in bad.rglob("*"))
    result = CliRunner().invoke(main, ["track", *(FAST if random_init else ["--no-progress"]), *args])
    assert result.exit_code != 0
    assert message.format(**fill) in result.output, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert not out.exists() and not list(tmp_path.glob(".out*")) and not list(bad.glob(".full*"))
    assert sorted(p.name for p in bad.rglob("*")) == before


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_cli_bad_input(args, message, mp4, bad_inputs, tmp_path):
    _run_bad(args, message, True, mp4, bad_inputs, tmp_path)


@pytest.mark.parametrize(("args", "message"), BAD_MODEL, ids=[m[:40] for _, m in BAD_MODEL])
def test_cli_bad_model(args, message, mp4, bad_inputs, tmp_path):
    _run_bad(args, message, args[0] == "--backend", mp4, bad_inputs, tmp_path)


# ---------------------------------------------------------------------------------------- video io


def test_lazy_video_decoding_matches_a_full_decode(tmp_path):
    clip = synthetic_clip(20, 48, 64, seed=3)
    path = write_mp4(tmp_path / "gop.mp4", clip, gop=4)
    full, _ = decode(path)
    lazy = open_video(path, memory_budget=0)
    assert not lazy.in_memory and len(lazy) == 20 and open_video(path).in_memory
    order = [*range(19, -1, -1), *range(20), 7, 3, 15, 15, 0, 19]
    for i in order:
        np.testing.assert_array_equal(lazy[i], full[i], err_msg=f"frame {i}")
    assert lazy.decoded < 4 * len(order)  # keyframe seeks and the cache, not decoding from the start each time


def test_display_rotation_is_applied(tmp_path, frames):
    rotated = open_video(write_mp4(tmp_path / "portrait.mp4", frames[:2], rotation=90))
    assert (rotated.height, rotated.width) == (W, H)
    ccw, cw = (np.abs(rotated[0].astype(int) - np.rot90(frames[0], k)).mean() for k in (1, -1))
    assert ccw < 8 and cw > 3 * ccw  # turned 90° counter-clockwise, as a player shows it (lossy, so roughly)


def test_frame_folder_is_lazy_and_naturally_sorted(tmp_path, frames):
    for i in (10, 2, 1):
        Image.fromarray(frames[i % N]).save(tmp_path / f"f{i}.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    folder = open_video(tmp_path)
    assert [p.name for p in folder.files] == ["f1.jpg", "f2.jpg", "f10.jpg"]
    for i in range(3):
        assert folder[i].shape == (H, W, 3) and folder[i].dtype == np.uint8
    assert len(folder._cache) <= 4


@pytest.mark.parametrize(("codec", "padded"), [("libx264", (96, 128)), ("mpeg4", (95, 127))])
def test_odd_sizes_are_padded_only_for_encoders_that_need_it(tmp_path, codec, padded):
    clip = synthetic_clip(3, 95, 127)
    writer = OverlayWriter(tmp_path / "odd.mp4", 127, 95, Fraction(30000, 1001), codec=codec)
    for frame in clip:
        writer.write(frame)
    writer.close()
    decoded, rate = decode(tmp_path / "odd.mp4")
    assert len(decoded) == 3 and decoded[0].shape[:2] == padded and rate == Fraction(30000, 1001)
    assert writer.padded == (padded != (95, 127))


def test_masks_format_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    masks = {(f, o): rng.random((7, 9)) > 0.5 for f in (0, 3) for o in (1, 12)}  # 63 bits: not a byte multiple
    arrays = {tracking.mask_key(f, o): np.packbits(m) for (f, o), m in masks.items()}
    np.savez(tmp_path / "m.npz", height=7, width=9, obj_ids=[1, 12], frames=[0, 3], **arrays)
    loaded = tracking.load_masks(tmp_path / "m.npz")
    assert set(loaded) == set(masks) and all(np.array_equal(loaded[k], masks[k]) for k in masks)
