"""A seeded generator of session programs: JSON-ready lists of public calls on one video.

A program is a dict: {"seed", "streaming", "frames", "height", "width", "aligned", "calls": [...]}. Calls:

    {"op": "add_prompt", "frame": F, "obj": ID, "points": [[x, y], ...] | None, "labels": [...] | None,
     "box": [x0, y0, x1, y1] | None, "mask": MASK | None}        MASK: {"kind": "disc", "cx", "cy", "r"},
                                                                 {"kind": "empty" | "full" | "nan"} or
                                                                 {"kind": "shape", "height", "width"}
    {"op": "propagate", "start": F | None, "max_frames": N | None, "reverse": bool}
    {"op": "push", "frame": T} or {"op": "push", "bad": "size" | "dtype" | "gray"}
    {"op": "stats"}

Values may be deliberately wrong (outside the frame, NaN, labels 2 or 0.5, unknown objects after tracking
started, wrong sizes, frame indices of the wrong type): the runtime must refuse those with InputError or
SessionError. `aligned` programs prompt every object on the same frames with valid prompts only, so each
object's masks must not depend on the others (`independence`).
"""

from __future__ import annotations

import copy

import numpy as np

SIZES = ((32, 48), (45, 61), (64, 40), (75, 131), (24, 24))
OBJECT_POOL = (1, 2, 7, "car")


def _f(value: float) -> float:
    return round(float(value), 2)


def _point(rng, h: int, w: int) -> list[float]:
    return [_f(rng.uniform(0, w)), _f(rng.uniform(0, h))]


def _box(rng, h: int, w: int) -> list[float]:
    x0, x1 = sorted(rng.uniform(0, w, 2))
    y0, y1 = sorted(rng.uniform(0, h, 2))
    return [_f(x0), _f(y0), _f(x1), _f(y1)]


def valid_prompt(rng, frame: int, obj: object, h: int, w: int) -> dict:
    call = {"op": "add_prompt", "frame": frame, "obj": obj, "points": None, "labels": None, "box": None, "mask": None}
    kind = rng.choice(["points", "points", "box", "box+points", "mask", "empty_mask", "edge"])
    if kind in ("points", "box+points"):
        n = int(rng.integers(1, 4)) if rng.random() < 0.9 else int(rng.integers(4, 21))
        call["points"] = [_point(rng, h, w) for _ in range(n)]
        call["labels"] = [int(v) for v in rng.integers(0, 2, n)]
        call["labels"][0] = 1
    if kind in ("box", "box+points"):
        call["box"] = _box(rng, h, w)
    if kind == "mask":
        call["mask"] = {"kind": "disc", "cx": _f(rng.uniform(0.2, 0.8)), "cy": _f(rng.uniform(0.2, 0.8)), "r": 0.25}
        call["mask"]["as"] = str(rng.choice(["bool", "uint8_255", "float", "hw1"]))
    if kind == "empty_mask":
        call["mask"] = {"kind": "empty"}
    if kind == "edge":  # valid values at the limits: corners, a zero-area box, a numpy frame index
        what = rng.choice(["corners", "flat_box", "numpy_frame"])
        if what == "corners":
            call["points"], call["labels"] = [[0.0, 0.0], [float(w), float(h)]], [1, 0]
        elif what == "flat_box":
            x, y = _point(rng, h, w)
            call["box"] = [x, y, x, y]
        else:
            call["points"], call["labels"], call["numpy_frame"] = [_point(rng, h, w)], [1], True
    return call


def invalid_prompt(rng, frame: int, obj: object, h: int, w: int, num_frames: int | None) -> dict:
    """A prompt with one thing wrong."""
    call = {"op": "add_prompt", "frame": frame, "obj": obj, "points": [_point(rng, h, w)], "labels": [1]}
    call.update(box=None, mask=None)
    what = rng.choice(
        [
            "outside",
            "nan",
            "inf",
            "label",
            "label_half",
            "count",
            "no_labels",
            "box_inverted",
            "box_short",
            "mask_shape",
            "mask_nan",
            "both",
            "nothing",
            "frame_out",
            "frame_negative",
            "frame_float",
            "text",
        ]
    )
    if what == "outside":
        call["points"] = [[_f(w + 1 + rng.uniform(0, 50)), _f(rng.uniform(0, h))]]
    elif what == "nan":
        call["points"] = [[float("nan"), 1.0]]
    elif what == "inf":
        call["box"], call["points"], call["labels"] = [0.0, 0.0, float("inf"), 3.0], None, None
    elif what == "label":
        call["labels"] = [int(rng.choice([2, 3, -1, 5]))]
    elif what == "label_half":
        call["labels"] = [0.5]
    elif what == "count":
        call["labels"] = [1, 0]
    elif what == "no_labels":
        call["labels"] = None
    elif what == "box_inverted":
        call["box"], call["points"], call["labels"] = [_f(w - 1), 1.0, 1.0, _f(h - 1)], None, None
    elif what == "box_short":
        call["box"], call["points"], call["labels"] = [1.0, 2.0, 3.0], None, None
    elif what == "mask_shape":
        call["points"], call["labels"] = None, None
        call["mask"] = {"kind": "shape", "height": h + 1, "width": w}
    elif what == "mask_nan":
        call["points"], call["labels"], call["mask"] = None, None, {"kind": "nan"}
    elif what == "both":
        call["mask"] = {"kind": "full"}
    elif what == "nothing":
        call["points"], call["labels"] = None, None
    elif what == "frame_out":
        call["frame"] = (num_frames or 0) + int(rng.integers(0, 5))
    elif what == "frame_negative":
        call["frame"] = -1
    elif what == "frame_float":
        call["frame"] = frame + 0.5
    elif what == "text":
        call["points"] = [["a", 1.0]]
    return call


def _propagate(rng, num_frames: int) -> dict:
    call = {
        "op": "propagate",
        "start": None if rng.random() < 0.4 else int(rng.integers(0, num_frames)),
        "max_frames": None if rng.random() < 0.5 else int(rng.integers(0, num_frames + 1)),
        "reverse": bool(rng.random() < 0.35),
    }
    if rng.random() < 0.12:  # one wrong argument
        key, value = [
            ("start", num_frames + int(rng.integers(0, 3))),
            ("start", -1),
            ("max_frames", -int(rng.integers(1, 4))),
            ("max_frames", float("nan")),
            ("start", "first"),
            ("max_frames", 1.5),
        ][int(rng.integers(0, 6))]
        call[key] = value
    return call


def generate(seed: int, streaming: bool | None = None, aligned: bool = False) -> dict:
    """One program, fully determined by `seed` (and the two switches)."""
    rng = np.random.default_rng(seed)
    streaming = bool(rng.random() < 0.3) if streaming is None else streaming
    h, w = SIZES[int(rng.integers(0, len(SIZES)))]
    objects = list(OBJECT_POOL[: int(rng.integers(1, 4))])
    program = {"seed": seed, "streaming": streaming, "height": h, "width": w, "aligned": aligned}
    calls: list[dict] = []
    if streaming:
        pushes = int(rng.integers(4, 22))
        program["frames"] = pushes
        for t in range(pushes):
            if rng.random() < 0.06:
                calls.append({"op": "push", "bad": str(rng.choice(["size", "dtype", "gray"]))})
            calls.append({"op": "push", "frame": t})
            if t == 0 or rng.random() < 0.2:
                for obj in objects if t == 0 or rng.random() < 0.5 else [objects[0]]:
                    calls.append(valid_prompt(rng, t, obj, h, w))
            if rng.random() < 0.1:
                calls.append(invalid_prompt(rng, t - int(rng.integers(0, 2)), objects[-1], h, w, None))
            if rng.random() < 0.05:
                calls.append(
                    {
                        "op": "add_prompt",
                        "frame": t,
                        "obj": "late",
                        "points": [[1.0, 1.0]],
                        "labels": [1],
                        "box": None,
                        "mask": None,
                    }
                )
            if rng.random() < 0.04:
                calls.append({"op": "propagate", "start": None, "max_frames": None, "reverse": False})
        return {**program, "calls": calls}

    n = int(rng.integers(3, 8))
    program["frames"] = n
    if aligned:
        prompt_frames = sorted({int(f) for f in rng.integers(0, n, int(rng.integers(1, 3)))})
        for f in prompt_frames:
            for obj in objects:
                call = valid_prompt(rng, f, obj, h, w)
                calls.append(call)
        for _ in range(int(rng.integers(1, 3))):
            calls.append(_propagate(rng, n) | {"max_frames": None, "start": None})
        if rng.random() < 0.5:  # a correction of every object on one tracked frame, then tracking again
            f = int(rng.integers(0, n))
            calls += [valid_prompt(rng, f, obj, h, w) | {"mask": None, "box": _box(rng, h, w)} for obj in objects]
            calls.append({"op": "propagate", "start": f, "max_frames": None, "reverse": bool(rng.random() < 0.5)})
        return {**program, "calls": calls}

    for _ in range(int(rng.integers(3, 11))):
        r = rng.random()
        obj = objects[int(rng.integers(0, len(objects)))] if rng.random() < 0.9 else "new"
        frame = int(rng.integers(0, n))
        if r < 0.5:
            calls.append(valid_prompt(rng, frame, obj, h, w))
        elif r < 0.65:
            calls.append(invalid_prompt(rng, frame, obj, h, w, n))
        elif r < 0.93:
            calls.append(_propagate(rng, n))
        elif r < 0.97:
            calls.append({"op": "stats"})
        else:
            calls.append({"op": "push", "frame": 0})  # push on an offline session: a SessionError
    return {**program, "calls": calls}


def only_object(program: dict, obj: object) -> dict:
    """The program with the prompts of every other object left out (for aligned programs)."""
    solo = copy.deepcopy(program)
    solo["calls"] = [c for c in program["calls"] if c["op"] != "add_prompt" or c["obj"] == obj]
    return solo


def program_objects(program: dict) -> list:
    seen: list = []
    for c in program["calls"]:
        if c["op"] == "add_prompt" and c["obj"] not in seen:
            seen.append(c["obj"])
    return seen
