"""Running a program on a tracker, recording what each call did, and the properties every run keeps."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from edgetam_export.clip import disc_mask, synthetic_clip
from runtime import InputError, SessionError
from runtime.contract import model_sizes

MIN_IOU = 0.99


@cache
def clip(frames: int, height: int, width: int) -> tuple[np.ndarray, ...]:
    return tuple(synthetic_clip(frames, height, width, seed=3))


@dataclass
class Outcome:
    """What one call did: results (frame, obj_ids, masks > 0, scores, non-finite count, shapes right), or an
    error."""

    op: str
    results: list[tuple[int, list, np.ndarray, np.ndarray, int, bool]] = field(default_factory=list)
    error: str | None = None  # "InputError" / "SessionError"
    message: str = ""
    crash: str | None = None  # any other exception, with its traceback
    stats: dict | None = None


def _mask(spec: dict, h: int, w: int) -> np.ndarray:
    kind = spec["kind"]
    if kind == "disc":
        disc = disc_mask(h, w, spec["cx"], spec["cy"], spec["r"])
        as_ = spec.get("as", "bool")
        if as_ == "uint8_255":
            return disc.astype(np.uint8) * 255
        if as_ == "float":
            return disc.astype(np.float32)
        return disc[..., None] if as_ == "hw1" else disc
    if kind == "empty":
        return np.zeros((h, w), bool)
    if kind == "full":
        return np.ones((h, w), bool)
    if kind == "nan":
        m = np.ones((h, w), np.float32)
        m[0, 0] = np.nan
        return m
    return np.ones((spec["height"], spec["width"]), bool)


def _push_frame(call: dict, frames, t: int) -> np.ndarray:
    bad = call.get("bad")
    frame = frames[min(t, len(frames) - 1)]
    if bad == "size":
        return frame[:-1]
    if bad == "dtype":
        return frame.astype(np.float32)
    if bad == "gray":
        return frame[..., 0]
    return frames[call["frame"]]


def _execute(session, call: dict, frames, h: int, w: int) -> list:
    op = call["op"]
    if op == "add_prompt":
        mask = None if call.get("mask") is None else _mask(call["mask"], h, w)
        kwargs = {"points": call.get("points"), "labels": call.get("labels"), "box": call.get("box"), "mask": mask}
        frame = np.int64(call["frame"]) if call.get("numpy_frame") else call["frame"]
        return [session.add_prompt(frame, call["obj"], **kwargs)]
    if op == "propagate":
        return list(session.propagate(call["start"], call["max_frames"], call["reverse"]))
    if op == "push":
        return [session.push(_push_frame(call, frames, session._num_pushed))]
    if op == "stats":
        session.stats()
        return []
    raise ValueError(f"unknown op {op!r}")


def run(program: dict, tracker) -> list[Outcome]:
    """Every call of `program` on a new session of `tracker`, in order; never raises for the calls."""
    h, w = program["height"], program["width"]
    frames = clip(program["frames"], h, w)
    session = tracker.start(None if program["streaming"] else list(frames))
    outcomes = []
    for call in program["calls"]:
        outcome = Outcome(call["op"])
        try:
            for r in _execute(session, call, frames, h, w):
                bad = int((~np.isfinite(r.mask_logits)).sum() + (~np.isfinite(r.object_score_logits)).sum())
                shape_ok = r.mask_logits.shape == (len(r.obj_ids), h, w) and r.object_score_logits.shape == (
                    len(r.obj_ids),
                )
                outcome.results.append(
                    (r.frame_idx, list(r.obj_ids), r.mask_logits > 0, r.object_score_logits.copy(), bad, shape_ok)
                )
        except (InputError, SessionError) as exc:
            outcome.error, outcome.message = type(exc).__name__, str(exc)
        except Exception as exc:  # the property under test: nothing else may escape
            outcome.crash = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        outcome.stats = session.stats()
        outcomes.append(outcome)
    return outcomes


# ------------------------------------------------------------------------------------------ properties


def call_problems(program: dict, outcomes: list[Outcome]) -> list[str]:
    """Every call succeeded or raised InputError/SessionError with a message; results are finite and shaped."""
    problems = []
    for i, o in enumerate(outcomes):
        if o.crash:
            problems.append(f"call {i} ({o.op}) raised {o.crash}")
        if o.error and not o.message.strip():
            problems.append(f"call {i} ({o.op}) raised {o.error} without a message")
        for frame, _, _, _, bad, shape_ok in o.results:
            if bad:
                problems.append(f"call {i} ({o.op}) frame {frame}: {bad} NaN/infinite values")
            if not shape_ok:
                problems.append(f"call {i} ({o.op}) frame {frame}: result shapes do not match the objects/frame")
    return problems


def stream_bound(config: dict, objects: int, cond_frames: int, height: int, width: int) -> tuple[int, int]:
    """(frames retained, state bytes) a stream may hold at most: its conditioning frames plus the window
    later frames read, each frame's memory, pointer, score and masks, the newest features and frame, and
    one pending output per object — independent of how many frames were pushed."""
    s = model_sizes(config)
    window = max(config["num_maskmem"] - 1, config["max_obj_ptrs_in_encoder"] - 1) + 1
    low = s["4F"] ** 2 * 4
    per_frame = objects * (s["T"] * s["M"] * 2 + s["C"] * 4 + 4 + low)
    features = 4 * (s["C"] * s["F"] ** 2 + s["C8"] * s["4F"] ** 2 + s["C4"] * s["2F"] ** 2)
    frames = cond_frames + window
    return frames, frames * per_frame + features + height * width * 3 + objects * (low + s["C"] * 4 + 4)


def stream_problems(program: dict, outcomes: list[Outcome], config: dict) -> list[str]:
    if not program["streaming"]:
        return []
    problems, prompted = [], set()
    pushed = 0
    for i, (call, o) in enumerate(zip(program["calls"], outcomes)):
        if call["op"] == "push" and o.error is None and not o.crash:
            pushed += 1
        if call["op"] == "add_prompt" and o.error is None and not o.crash:
            prompted.add(pushed)
        objects = o.stats["objects"]
        frames, nbytes = stream_bound(config, max(objects, 1), len(prompted), program["height"], program["width"])
        if o.stats["frames_retained"] > frames or o.stats["state_bytes"] > nbytes:
            problems.append(f"call {i}: stats {o.stats} exceed the bound ({frames} frames, {nbytes} bytes)")
    return problems


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def agreement_problems(a: list[Outcome], b: list[Outcome], what: str) -> list[str]:
    """Two runs of one program (e.g. torch and ONNX): the same calls fail, the same frames and objects
    come back, masks agree to IoU ≥ MIN_IOU."""
    problems = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if (x.error, bool(x.crash)) != (y.error, bool(y.crash)):
            problems.append(f"{what}: call {i} ({x.op}) gave {x.error or 'ok'} vs {y.error or 'ok'}")
            continue
        if [r[:2] for r in x.results] != [r[:2] for r in y.results]:
            problems.append(f"{what}: call {i} ({x.op}) returned other frames/objects")
            continue
        for (frame, objs, mx, _, _, _), (_, _, my, _, _, _) in zip(x.results, y.results):
            for j, obj in enumerate(objs):
                value = iou(mx[j], my[j])
                if value < MIN_IOU:
                    problems.append(f"{what}: call {i} frame {frame} object {obj!r}: IoU {value:.4f}")
    return problems


def masks_by_object(outcomes: list[Outcome], obj: object) -> list[tuple[int, int, np.ndarray]]:
    """(call, frame, mask) of one object in every result, in order."""
    found = []
    for i, o in enumerate(outcomes):
        for frame, objs, masks, _, _, _ in o.results:
            if obj in objs:
                found.append((i, frame, masks[objs.index(obj)]))
    return found
