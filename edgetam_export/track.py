"""`edgetam-export track`: run a tracker over a video file or frame folder and write what it found.

The core is `track(tracker, video, prompts, out, ...)`: it takes a loaded `runtime.Tracker`, so tests and
other tools can pass any backend; the command line only parses options and builds the tracker
(`load_tracker`). Everything the run writes goes to a hidden sibling folder first and is renamed to `out`
at the end, so a failed or interrupted run leaves no partial output.

Output folder:

- `overlay.mp4`: the tracked frames in time order (also after `--reverse`), each object's mask
  (logits > 0) blended in its own colour with a solid outline, at the input's size and frame rate (see
  `video_io.OverlayWriter` for the codec and the one-pixel padding of odd sizes).
- `masks.npz`: every tracked frame's masks, see `MASKS_FORMAT`; read it with `load_masks`.
- `summary.json`: input, model, weights, prompts, timings, and per frame and object the mask area,
  bounding box and object score logit.

Prompts file (`--prompts FILE.json`): a JSON list of entries, one per object and frame::

    [{"frame": 0, "obj": 1, "points": [[210, 350], [250, 380]], "labels": [1, 0]},
     {"frame": 0, "obj": 2, "box": [300, 80, 420, 200]},
     {"frame": 12, "obj": 1, "mask": "masks/obj1_f12.png"}]

`frame` (default 0) and `obj` (default 1) are non-negative integers; `points` is a list of [x, y] in
frame pixels with `labels` (1 positive, 0 negative; default all 1); `box` is [x0, y0, x1, y1]; `mask` is
a PNG path (relative to the JSON file) whose non-zero pixels are the object, of the frame's size. An
entry holds points and/or a box, or a mask; each (frame, obj) appears once. Offline, objects may first
appear on any frame; `--stream` needs every object prompted on the first prompted frame (the runtime
admits no new object once tracking has started), and a prompt on a later frame is a correction of that
frame's tracked mask, as in interactive SAM 2, so it does not act exactly as the same prompt offline.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from runtime.errors import InputError
from runtime.prompts import mask_prompt, point_prompt
from runtime.staging import staged_folder

from .video_io import OverlayWriter, VideoFrames, open_video

SUMMARY, MASKS, OVERLAY = "summary.json", "masks.npz", "overlay.mp4"
SUMMARY_VERSION = 1

MASKS_FORMAT = (
    "masks.npz: a zip of .npy arrays (numpy.load reads it). 'height', 'width': int64 scalars, the frame size; "
    "'obj_ids': int64 [objects]; 'frames': int64 [tracked frames], ascending. For every tracked frame F and "
    "object O, key 'f{F:06d}_o{O}' (e.g. 'f000012_o1') holds uint8 [ceil(height*width/8)] = "
    "numpy.packbits(mask) of the H×W bool mask (mask logits > 0) flattened in row-major order; unpack with "
    "numpy.unpackbits(a, count=height*width).reshape(height, width).astype(bool). "
    "edgetam_export.track.load_masks(path) returns {(frame, obj): mask}."
)

# Distinct, saturated colours (RGB) for objects, in prompt order.
PALETTE = (
    (255, 64, 64),
    (64, 200, 255),
    (255, 200, 0),
    (80, 220, 80),
    (200, 90, 255),
    (255, 140, 40),
    (0, 230, 200),
    (255, 80, 180),
    (160, 255, 60),
    (120, 120, 255),
)
ALPHA = 0.5


# ------------------------------------------------------------------------------------------- prompts


@dataclass
class Prompt:
    """One object's prompt on one frame; `source` names where it came from, for error messages."""

    frame: int
    obj: int
    points: list[list[float]] | None = None
    labels: list[int] | None = None
    box: list[float] | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    mask_path: str | None = None
    source: str = "prompt"

    def to_dict(self) -> dict:
        entry: dict = {"frame": self.frame, "obj": self.obj}
        if self.points is not None:
            entry["points"], entry["labels"] = self.points, self.labels
        if self.box is not None:
            entry["box"] = self.box
        if self.mask is not None:
            entry["mask"] = self.mask_path
        return entry


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{what}: {text.strip()!r} is not a finite number")
    return value


def parse_point(text: str) -> tuple[float, float, int]:
    """'X,Y' or 'X,Y,LABEL' (label 1 positive, the default, or 0 negative) → (x, y, label)."""
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise InputError(f"--point {text!r}: expected X,Y or X,Y,LABEL in frame pixels (e.g. 210,350 or 210,350,0)")
    x, y = (_number(p, f"--point {text!r}") for p in parts[:2])
    label = 1
    if len(parts) == 3:
        if parts[2].strip() not in ("0", "1"):
            raise InputError(f"--point {text!r}: the label is 1 (positive) or 0 (negative), not {parts[2].strip()!r}")
        label = int(parts[2])
    return x, y, label


def parse_box(text: str) -> list[float]:
    """'X0,Y0,X1,Y1' → [x0, y0, x1, y1]."""
    parts = text.split(",")
    if len(parts) != 4:
        raise InputError(f"--box {text!r}: expected X0,Y0,X1,Y1 in frame pixels (e.g. 300,80,420,200)")
    return [_number(p, f"--box {text!r}") for p in parts]


def read_mask(path: str | Path) -> np.ndarray:
    """A mask image as an H×W bool array: non-zero pixels are the object (grey or palette value ≠ 0, or any
    colour channel ≠ 0; an alpha channel is ignored)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such mask file")
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: cannot read it as a mask image ({exc})") from exc
    if array.ndim == 3:
        if mode.endswith("A"):
            array = array[..., :-1]
        return (array != 0).any(axis=-1)
    return array != 0


def prompts_from_options(
    points: Sequence[tuple[float, float, int]],
    box: Sequence[float] | None,
    mask: str | Path | None,
    obj: int,
    frame: int,
) -> list[Prompt]:
    """The prompt of `--point`/`--box`/`--mask` with `--obj` and `--frame` (an empty list when none given)."""
    if not points and box is None and mask is None:
        return []
    source = f"the prompt of frame {frame}, object {obj}"
    if mask is not None and (points or box is not None):
        raise InputError("give --mask alone, or --point/--box: one prompt cannot hold both a mask and points/box")
    prompt = Prompt(frame=frame, obj=obj, source=source)
    if points:
        prompt.points = [[float(x), float(y)] for x, y, _ in points]
        prompt.labels = [int(label) for _, _, label in points]
    if box is not None:
        prompt.box = [float(v) for v in box]
    if mask is not None:
        prompt.mask = read_mask(mask)
        prompt.mask_path = str(mask)
    return [prompt]


_ENTRY_KEYS = {"frame", "obj", "points", "labels", "box", "mask"}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_prompts_file(path: str | Path) -> list[Prompt]:
    """Prompts from a JSON file (schema in this module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such prompts file")
    try:
        entries = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a prompts list") from None
    if not isinstance(entries, list) or not entries:
        raise InputError(f'{path}: expected a non-empty JSON list of prompts like [{{"frame": 0, "obj": 1, ...}}]')
    prompts = []
    for i, entry in enumerate(entries):
        where = f"{path} entry {i}"
        if not isinstance(entry, dict):
            raise InputError(f'{where}: each prompt is a JSON object like {{"frame": 0, "obj": 1, ...}}')
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}")
        ids = {}
        for key, default in (("frame", 0), ("obj", 1)):
            value = entry.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"{where}: {key!r} must be a non-negative integer; got {value!r}")
            ids[key] = value
        prompt = Prompt(frame=ids["frame"], obj=ids["obj"], source=where)
        if "points" in entry:
            points = entry["points"]
            ok = isinstance(points, list) and points
            ok = ok and all(isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in points)
            if not ok:
                raise InputError(f"{where}: 'points' must be a non-empty list of [x, y] numbers; got {points!r}")
            labels = entry.get("labels", [1] * len(points))
            if not isinstance(labels, list) or len(labels) != len(points):
                raise InputError(f"{where}: 'labels' must be a list with one label per point; got {labels!r}")
            if any(label not in (0, 1) or isinstance(label, bool) for label in labels):
                raise InputError(f"{where}: labels are 1 (positive) or 0 (negative); got {labels!r}")
            prompt.points = [[float(x), float(y)] for x, y in points]
            prompt.labels = [int(label) for label in labels]
        elif "labels" in entry:
            raise InputError(f"{where}: 'labels' without 'points'")
        if "box" in entry:
            box = entry["box"]
            if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
                raise InputError(f"{where}: 'box' must be [x0, y0, x1, y1] numbers; got {box!r}")
            prompt.box = [float(v) for v in box]
        if "mask" in entry:
            if prompt.points is not None or prompt.box is not None:
                raise InputError(f"{where}: give a 'mask', or 'points'/'box', not both")
            if not isinstance(entry["mask"], str):
                raise InputError(f"{where}: 'mask' must be a path to a PNG; got {entry['mask']!r}")
            mask_path = path.parent / entry["mask"]
            try:
                prompt.mask, prompt.mask_path = read_mask(mask_path), str(mask_path)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
        if prompt.points is None and prompt.box is None and prompt.mask is None:
            raise InputError(f"{where}: a prompt needs 'points', a 'box' or a 'mask'")
        prompts.append(prompt)
    return prompts


# ----------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """Which frames a run tracks: `frames` in processing order; `runtime_max_frames` for propagate()."""

    start: int
    frames: tuple[int, ...]
    runtime_max_frames: int


def check_inputs(
    prompts: Sequence[Prompt],
    video: VideoFrames,
    *,
    reverse: bool = False,
    max_frames: int | None = None,
    stream: bool = False,
    fps: float | Fraction | None = None,
) -> Plan:
    """Check every prompt against the video (frame range, coordinates, mask size) and the options, before
    any model runs, and work out the frames to track."""
    if fps is not None and not (math.isfinite(float(fps)) and float(fps) > 0):
        raise InputError(f"--fps must be a positive number; got {fps}")
    if not prompts:
        raise InputError("nothing to track: give a prompt (--point, --box, --mask or --prompts FILE.json)")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be at least 1; got {max_frames}")
    if stream and reverse:
        raise InputError("--stream tracks frames as they arrive, forwards only; drop --reverse or --stream")
    n, height, width = len(video), video.height, video.width
    seen: dict[tuple[int, int], str] = {}
    for p in prompts:
        if not 0 <= p.frame < n:
            raise InputError(f"{p.source}: frame {p.frame} is outside the video {video.path} (frames 0..{n - 1})")
        key = (p.frame, p.obj)
        if key in seen:
            raise InputError(
                f"{p.source}: object {p.obj} is prompted twice on frame {p.frame} (also by {seen[key]}); "
                "put all of its points in one prompt"
            )
        seen[key] = p.source
        try:
            if p.mask is not None:
                if p.mask.shape != (height, width):
                    raise InputError(
                        f"the mask {p.mask_path} is {p.mask.shape[1]}×{p.mask.shape[0]} but the video frames are "
                        f"{width}×{height} (width×height); give a mask of the frame's size"
                    )
                mask_prompt(p.mask, width, height)
            else:
                point_prompt(p.points, p.labels, p.box, width, height, 1024)
        except InputError as exc:
            raise InputError(f"{p.source}: {exc}") from None
    prompt_frames = sorted({p.frame for p in prompts})
    limit = n if max_frames is None else max_frames
    if stream:
        first = prompt_frames[0]
        late = {p.obj for p in prompts} - {p.obj for p in prompts if p.frame == first}
        if late:
            raise InputError(
                f"--stream: objects {sorted(late)} are first prompted after frame {first}; a stream admits no new "
                f"object once tracking has started, so prompt every object on frame {first} (or run offline)"
            )
        last = min(first + limit - 1, n - 1)
        beyond = [f for f in prompt_frames if f > last]
        if beyond:
            raise InputError(f"--stream: prompts on frames {beyond} lie after the last tracked frame {last}")
        return Plan(first, tuple(range(last + 1)), limit - 1)
    if reverse:
        start = prompt_frames[-1]
        if start == 0:
            raise InputError(
                "--reverse tracks backwards from the last prompted frame, which is frame 0: there is nothing "
                "before it; prompt a later frame (--frame N) or drop --reverse"
            )
        return Plan(start, tuple(range(start, max(start - limit + 1, 0) - 1, -1)), limit - 1)
    start = prompt_frames[0]
    return Plan(start, tuple(range(start, min(start + limit - 1, n - 1) + 1)), limit - 1)


def check_output_dir(out: str | Path) -> Path:
    """`out` may be new, empty, or the output of an earlier track run (it is replaced); nothing else."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / SUMMARY).is_file():
            raise InputError(
                f"--out {out}: the folder is not empty and holds no {SUMMARY} from an earlier track run; "
                "give a new or empty folder"
            )
    return out


# ------------------------------------------------------------------------------------------- masks


class _MaskWriter:
    """Writes masks.npz entry by entry (so nothing accumulates in memory), as numpy.savez_compressed does."""

    def __init__(self, path: Path, height: int, width: int) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.height, self.width = height, width
        self.frames: list[int] = []
        self.obj_ids: list[int] = []

    def put(self, name: str, array: np.ndarray) -> None:
        with self.zip.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)

    def add(self, frame_idx: int, obj_ids: Sequence[int], masks: np.ndarray) -> None:
        self.frames.append(frame_idx)
        for obj, mask in zip(obj_ids, masks):
            if obj not in self.obj_ids:
                self.obj_ids.append(obj)
            self.put(mask_key(frame_idx, obj), np.packbits(mask))

    def close(self) -> None:
        try:
            self.put("height", np.int64(self.height))
            self.put("width", np.int64(self.width))
            self.put("obj_ids", np.array(self.obj_ids, np.int64))
            self.put("frames", np.array(sorted(self.frames), np.int64))
        except BaseException:
            with contextlib.suppress(OSError):  # e.g. a full disk: the first error is the one to report
                self.zip.close()
            raise
        self.zip.close()


def mask_key(frame_idx: int, obj: int) -> str:
    return f"f{frame_idx:06d}_o{obj}"


def _unpack(packed: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.unpackbits(packed, count=height * width).reshape(height, width).astype(bool)


def load_masks(path: str | Path) -> dict[tuple[int, int], np.ndarray]:
    """masks.npz (see MASKS_FORMAT) → {(frame, obj): H×W bool mask}."""
    with np.load(path) as data:
        height, width = int(data["height"]), int(data["width"])
        out = {}
        for name in data.files:
            if name.startswith("f") and "_o" in name:
                frame, obj = name[1:].split("_o")
                out[(int(frame), int(obj))] = _unpack(data[name], height, width)
        return out


def mask_stats(mask: np.ndarray) -> tuple[int, list[int] | None]:
    """(area in pixels, inclusive bounding box [x0, y0, x1, y1] or None when empty)."""
    area = int(mask.sum())
    if area == 0:
        return 0, None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return area, [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]


# ------------------------------------------------------------------------------------------ overlay


def object_colour(index: int) -> np.ndarray:
    return np.array(PALETTE[index % len(PALETTE)], np.float32)


def blend(frame: np.ndarray, masks: Iterable[np.ndarray], colours: Iterable[np.ndarray]) -> np.ndarray:
    """The frame with each mask tinted in its colour (ALPHA) and outlined in it (later objects on top)."""
    out = frame.astype(np.float32)
    for mask, colour in zip(masks, colours):
        if not mask.any():
            continue
        out[mask] = (1 - ALPHA) * out[mask] + ALPHA * colour
        inner = mask.copy()
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        out[mask & ~inner] = colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------- track


@dataclass
class TrackResult:
    out: Path
    overlay: Path
    masks: Path
    summary: dict


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def track(
    tracker,
    video: VideoFrames | str | Path,
    prompts: Sequence[Prompt],
    out: str | Path,
    *,
    reverse: bool = False,
    max_frames: int | None = None,
    stream: bool = False,
    fps: float | Fraction | None = None,
    progress: bool = True,
    model: dict | None = None,
    trace: str | Path | None = None,
) -> TrackResult:
    """Track the prompted objects through `video` with `tracker` (a runtime.Tracker) and write `out`.

    Offline (default): all prompts are added, then the session propagates from the first prompted frame
    forwards (or from the last one backwards with `reverse`). `stream`: frames are pushed one by one
    through the streaming session and each frame's prompts applied right after it is pushed; frames
    before the first prompt are pushed with no objects (they appear in the output, with no masks).
    `max_frames` counts the tracked frames including the first one. `model` describes where the model
    came from, for summary.json. `trace`: a folder to record the session's trace in (`runtime.trace`: every
    call, stage call and result, for replaying another driver against this one; it holds every frame and
    stage tensor, so keep clips short).
    """
    started = time.perf_counter()
    opened = not isinstance(video, VideoFrames)
    video = open_video(video) if opened else video
    try:
        plan = check_inputs(prompts, video, reverse=reverse, max_frames=max_frames, stream=stream, fps=fps)
        out = check_output_dir(out)
        with staged_folder(out, lambda message: InputError(f"--out {out}: {message}")) as staging:
            options = {"reverse": reverse, "stream": stream, "fps": fps, "max_frames": max_frames, "progress": progress}
            recorder = None
            if trace is not None:
                from runtime.trace import TraceRecorder

                recorder = TraceRecorder(tracker, scenario=f"edgetam-export track {Path(str(video.path)).name}")
                tracker = recorder
            summary = _run(tracker, video, prompts, plan, staging, options, model or {})
            summary["timings"]["total_seconds"] = round(time.perf_counter() - started, 4)
            (staging / SUMMARY).write_text(_dumps(summary), "utf-8")
            if recorder is not None:
                recorder.save(Path(trace))
    finally:
        if opened:
            video.close()
    return TrackResult(out, out / OVERLAY, out / MASKS, summary)


def _dumps(summary: dict) -> str:
    """JSON with one line per frame (a long video's summary stays readable)."""
    dump = lambda value, **kw: json.dumps(value, allow_nan=False, ensure_ascii=False, **kw)  # noqa: E731
    head = dump({k: v for k, v in summary.items() if k != "frames"}, indent=1)
    rows = ",\n  ".join(dump(row) for row in summary["frames"])
    return f'{head[:-2]},\n "frames": [\n  {rows}\n ]\n}}\n'


def _run(tracker, video, prompts, plan: Plan, folder: Path, options: dict, model: dict) -> dict:
    from tqdm import tqdm

    reverse, stream, fps, max_frames = options["reverse"], options["stream"], options["fps"], options["max_frames"]
    height, width = video.height, video.width
    masks_out = _MaskWriter(folder / MASKS, height, width)
    rate = video.fps if fps is None else Fraction(fps).limit_denominator(1_000_000)
    writer = OverlayWriter(folder / OVERLAY, width, height, rate)
    colour_of: dict[int, np.ndarray] = {}
    for p in prompts:
        colour_of.setdefault(p.obj, object_colour(len(colour_of)))
    by_frame: dict[int, list[Prompt]] = {}
    for p in sorted(prompts, key=lambda p: p.frame):  # stable: a frame's prompts keep their given order
        by_frame.setdefault(p.frame, []).append(p)
    rows: dict[int, dict] = {}
    frame_ms: list[float] = []
    write_now = not reverse  # forwards, frames arrive in time order: encode at once; reverse: at the end

    def record(result) -> None:
        masks = result.mask_logits > 0
        masks_out.add(result.frame_idx, result.obj_ids, masks)
        objects = []
        for obj, mask, score in zip(result.obj_ids, masks, result.object_score_logits):
            area, bbox = mask_stats(mask)
            objects.append({"obj": obj, "area": area, "bbox": bbox, "score": _finite(score)})
        rows[result.frame_idx] = {"frame": result.frame_idx, "objects": objects}
        if write_now:
            frame = video[result.frame_idx]
            writer.write(blend(frame, masks, [colour_of[o] for o in result.obj_ids]))

    def add(session, p: Prompt):
        if p.mask is not None:
            return session.add_prompt(p.frame, p.obj, mask=p.mask)
        return session.add_prompt(p.frame, p.obj, points=p.points, labels=p.labels, box=p.box)

    bar = tqdm(total=len(plan.frames), unit="frame", desc="tracking", file=sys.stderr, disable=not options["progress"])
    prompt_seconds = 0.0
    try:
        try:
            if stream:
                session = tracker.start()
                for frame_idx in plan.frames:
                    tick = time.perf_counter()
                    result = session.push(video[frame_idx])
                    for p in by_frame.get(frame_idx, []):
                        result = add(session, p)  # the frame's result with every object, after its prompts
                    frame_ms.append(1e3 * (time.perf_counter() - tick))
                    record(result)
                    bar.update()
            else:
                session = tracker.start(video)
                tick = time.perf_counter()
                for frame_idx in sorted(by_frame):
                    for p in by_frame[frame_idx]:
                        add(session, p)
                prompt_seconds = time.perf_counter() - tick
                results = session.propagate(plan.start, plan.runtime_max_frames, reverse)
                while True:
                    tick = time.perf_counter()
                    result = next(results, None)
                    if result is None:
                        break
                    frame_ms.append(1e3 * (time.perf_counter() - tick))
                    record(result)
                    bar.update()
        finally:
            bar.close()
            masks_out.close()
        if not write_now:
            _write_from_masks(writer, video, folder / MASKS, colour_of)
    finally:
        writer.close()

    tracked = len(frame_ms)
    seconds = prompt_seconds + sum(frame_ms) / 1e3
    backend = tracker.backend
    return {
        "format_version": SUMMARY_VERSION,
        "input": video.describe(),
        "model": {
            **model,
            "backend": getattr(backend, "name", type(backend).__name__),
            "image_size": tracker.config.get("image_size"),
            "capacities": getattr(backend, "capacities", None),
        },
        "weights": getattr(backend, "weights", None),
        "prompts": [p.to_dict() for p in prompts],
        "tracking": {
            "mode": "stream" if stream else "offline",
            "reverse": reverse,
            "start_frame": plan.start,
            "max_frames": max_frames,
            "frames": tracked,
        },
        "overlay": {"file": OVERLAY, "frames_from": min(rows) if rows else None, **writer.describe()},
        "masks_file": MASKS,
        "masks_format": MASKS_FORMAT,
        "timings": {
            "total_seconds": None,  # filled in by track()
            "tracking_seconds": round(seconds, 4),
            "prompt_seconds": round(prompt_seconds, 4),
            "frames_per_second": round(tracked / seconds, 3) if seconds > 0 else None,
            "per_frame_ms_mean": round(float(np.mean(frame_ms)), 3) if frame_ms else None,
            "per_frame_ms_max": round(float(np.max(frame_ms)), 3) if frame_ms else None,
        },
        "frames": [rows[f] for f in sorted(rows)],
    }


def _write_from_masks(writer: OverlayWriter, video, masks_path: Path, colour_of: dict) -> None:
    """Encode the overlay in time order from masks.npz (after reverse tracking, which yields frames backwards)."""
    with np.load(masks_path) as data:
        height, width = int(data["height"]), int(data["width"])
        obj_ids = [int(o) for o in data["obj_ids"]]
        for frame_idx in data["frames"]:
            keys = [(o, mask_key(int(frame_idx), o)) for o in obj_ids]
            present = [(o, k) for o, k in keys if k in data.files]
            masks = [_unpack(data[k], height, width) for _, k in present]
            writer.write(blend(video[int(frame_idx)], masks, [colour_of[o] for o, _ in present]))


# ---------------------------------------------------------------------------------------- the model


def load_tracker(
    model: str | Path | None,
    backend: str | None = None,
    *,
    random_init: bool = False,
    seed: int = 0,
    image_size: int = 1024,
    verify_files: bool = True,
):
    """→ (runtime.Tracker, description for summary.json). `model` is an export folder (backend onnx by
    default, or coreml) or a checkpoint / Hugging Face folder (torch); `random_init` builds synthetic
    torch weights instead (no model path). `verify_files`: check an export's files against its manifest's sha256."""
    from runtime import Tracker

    if random_init:
        if model is not None:
            raise InputError("give a MODEL or --random-init, not both")
        if backend not in (None, "torch"):
            raise InputError(f"--random-init builds a torch model; --backend {backend} needs an export folder")
        from reference_model import EdgeTamConfig
        from runtime.backends.torch import TorchBackend

        tracker = Tracker(TorchBackend.synthetic(seed, EdgeTamConfig(image_size=image_size)))
        return tracker, {"source": "random-init", "seed": seed}
    if model is None:
        raise InputError("give a MODEL (an export folder or a checkpoint) or --random-init")
    path = Path(model)
    if not path.exists():
        raise InputError(
            f"{path}: no such model; MODEL is an export folder (with manifest.json) or a checkpoint "
            "(edgetam.pt, a Hugging Face folder or .safetensors)"
        )
    return Tracker.load(path, resolve_backend(path, backend), verify_files=verify_files), {"source": str(path)}


def resolve_backend(model: str | Path | None, backend: str | None) -> str:
    """The backend asked for, else onnx for an export folder (it has manifest.json) and torch otherwise."""
    if backend is not None:
        return backend
    return "onnx" if model is not None and (Path(model) / "manifest.json").is_file() else "torch"
