"""End-to-end timing on a clip: the prompted first frame, then tracked frames, sessions interleaved.

The backend is wrapped in a call log, so the report can show which stages ran on every tracked frame and
with how many objects per call (the image encoder once per frame, the per-object stages batched).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

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


def timed_session(
    backend, frames: Sequence[np.ndarray], objects: int, warmup_frames: int = 2
) -> Iterator[tuple[float, int, np.ndarray, list]]:
    """This toolkit's runtime on `frames`, one click per object on frame 0. After an untimed warm-up session
    (first-run allocations of every shape), yields per frame: seconds, frame index, binary masks [objects,
    H, W] and the stage calls made. The first item is the prompted frame, through its first result."""
    height, width = frames[0].shape[:2]
    clicks = object_clicks(width, height, objects)
    log = CallLog(backend)
    tracker = Tracker(log)

    def run(clip: Sequence[np.ndarray]) -> Iterator[tuple[float, int, np.ndarray, list]]:
        session = tracker.start(clip)
        log.calls.clear()
        start = time.perf_counter()
        for obj, (x, y) in enumerate(clicks, start=1):
            session.add_prompt(0, obj, points=[[x, y]], labels=[1])
        for result in session.propagate():
            seconds = time.perf_counter() - start
            yield seconds, result.frame_idx, result.mask_logits > 0, list(log.calls)
            log.calls.clear()
            start = time.perf_counter()

    for _ in run(frames[: warmup_frames + 1]):
        pass
    yield from run(frames)


def summarize(items: list[tuple], objects: int) -> dict:
    """Timings of a session's items: the first (prompted) frame apart, then the tracked frames."""
    seconds = [item[0] for item in items]
    return {
        "objects": objects,
        "first_frame_ms": seconds[0] * 1e3,
        **summary_ms(seconds[1:]),
        "masks": {item[1]: item[2] for item in items},
        "calls": [item[3] for item in items[1:]],  # per tracked frame: [(stage, shapes), ...]
    }


def interleave(sessions: dict[str, Iterator]) -> dict[str, list]:
    """Advance every session one frame in turn, so all of them meet the machine in the same state: on a
    shared machine, speed drifts by 2× within minutes, and side-by-side ratios must not see that drift."""
    items: dict[str, list] = {name: [] for name in sessions}
    active = dict(sessions)
    while active:
        for name, session in list(active.items()):
            try:
                items[name].append(next(session))
            except StopIteration:
                del active[name]
    return items
