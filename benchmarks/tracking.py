"""End-to-end timing of this toolkit's runtime on a clip: the prompted first frame, then tracked frames.

The backend is wrapped in a call log, so the report can show which stages ran on every tracked frame and
with how many objects per call (the image encoder once per frame, the per-object stages batched).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from runtime import Tracker

from .timing import summary_ms


class CallLog:
    """A backend that records (stage, input shapes) of every call before running it."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name, self.config, self.capacities, self.weights = (
            backend.name,
            backend.config,
            backend.capacities,
            backend.weights,
        )
        self.calls: list[tuple[str, dict[str, tuple[int, ...]]]] = []

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append((stage, {k: tuple(np.shape(v)) for k, v in inputs.items()}))
        return self.backend.run(stage, inputs)


def object_clicks(width: int, height: int, objects: int) -> list[tuple[float, float]]:
    """One click per object on the generated clip's first frame: the three discs, then background spots."""
    from edgetam_export.clip import disc_centres

    spots = [(x * width, y * height) for x, y in disc_centres(0, 2)]
    spots += [(0.12 * width, 0.88 * height), (0.88 * width, 0.12 * height), (0.5 * width, 0.12 * height)]
    if objects > len(spots):
        raise ValueError(f"the benchmark clip has clicks for at most {len(spots)} objects")
    return spots[:objects]


def track_clip(backend, frames: Sequence[np.ndarray], objects: int, warmup_frames: int = 2) -> dict:
    """Time one session: prompts on frame 0 (one click per object) through its first result, then every
    tracked frame. Returns timings, per-frame stage calls and the binary masks {frame: [objects, H, W]}."""
    height, width = frames[0].shape[:2]
    clicks = object_clicks(width, height, objects)
    log = CallLog(backend)
    tracker = Tracker(log)

    def session_run(clip: Sequence[np.ndarray]):
        session = tracker.start(clip)
        start = time.perf_counter()
        for obj, (x, y) in enumerate(clicks, start=1):
            session.add_prompt(0, obj, points=[[x, y]], labels=[1])
        results = session.propagate()
        first = next(results)
        yield time.perf_counter() - start, first, len(log.calls)
        while True:
            start = time.perf_counter()
            try:
                result = next(results)
            except StopIteration:
                return
            yield time.perf_counter() - start, result, len(log.calls)

    for _ in session_run(frames[: warmup_frames + 1]):  # warm-up: first-run allocations of every shape
        pass
    log.calls.clear()
    timings, masks, calls, seen = [], {}, [], 0
    for seconds, result, count in session_run(frames):
        timings.append(seconds)
        masks[result.frame_idx] = result.mask_logits > 0
        calls.append(log.calls[seen:count])
        seen = count
    return {
        "objects": objects,
        "first_frame_ms": timings[0] * 1e3,
        **summary_ms(timings[1:]),
        "calls": calls[1:],  # per tracked frame: [(stage, shapes), ...]
        "masks": masks,
    }
