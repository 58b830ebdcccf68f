"""Record the trace scenarios the Swift package replays: `python -m tests.record_traces [OUT_DIR]`.

Each scenario drives the Python runtime on a small synthetic model (image_size 256, torch stages) through
one stretch of the session API and writes a trace folder (`runtime.trace`). Capacities are pinned as a Core
ML export pins them (K conditioning slots, N = K + max_obj_ptrs − 1 pointers, P points), except in the
scenario that stands for ONNX's dynamic slots. Frames are 75×131: odd sizes exercise the resizes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgetam_export.clip import disc_mask, synthetic_clip
from runtime import InputError, SessionError, Tracker
from runtime.trace import TraceRecorder

TRACES = Path(__file__).resolve().parent.parent / "build" / "swift-test-data" / "traces"  # the Swift tests' default
IMAGE_SIZE = 256
SEED = 1
H, W = 75, 131
K = 2
FIXED = {"K": K, "N": K + 15, "P": 16}
DYNAMIC = {"K": None, "N": None, "P": None}


def _expect_error(call: Callable[[], object], error: type[Exception]) -> None:
    try:
        call()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")


def two_objects_points_and_box(session) -> None:
    session.add_prompt(0, 1, points=[[0.30 * W, 0.35 * H], [0.8 * W, 0.9 * H]], labels=[1, 0])
    session.add_prompt(0, 2, box=[0.53 * W, 0.18 * H, 0.77 * W, 0.6 * H])
    _expect_error(lambda: session.add_prompt(0, 3, points=[[W + 5, 10]], labels=[1]), InputError)
    _expect_error(lambda: session.add_prompt(0, 3, points=[[float("nan"), 10]], labels=[1]), InputError)
    list(session.propagate())
    _expect_error(lambda: session.add_prompt(2, 9, points=[[10, 10]], labels=[1]), SessionError)
    session.stats()


def mask_prompt_vanish(session) -> None:
    session.add_prompt(0, 7, mask=disc_mask(H, W, 0.5, 0.7, 0.2))
    session.add_prompt(2, 8, points=[[0.65 * W, 0.40 * H]], labels=[1])
    session.add_prompt(3, 7, mask=np.zeros((H, W), bool))  # object 7 is absent on frame 3
    list(session.propagate())
    session.stats()


def correction_and_reverse(session) -> None:
    session.add_prompt(3, 1, points=[[0.65 * W, 0.45 * H], [0.2 * W, 0.8 * H]], labels=[1, 0])
    list(session.propagate())
    session.add_prompt(5, 1, points=[[0.66 * W, 0.55 * H]], labels=[1])  # a correction on a tracked frame
    list(session.propagate(start_frame_idx=5))
    list(session.propagate(reverse=True))
    session.stats()


def more_cond_frames_than_k(session) -> None:
    for frame in (0, 2, 4, 6):  # four conditioning frames; the export attends to the K = 2 closest
        session.add_prompt(frame, 1, points=[[(0.3 + 0.05 * frame) * W, 0.4 * H]], labels=[1])
    list(session.propagate())
    list(session.propagate(start_frame_idx=7, reverse=True))


def vanish_and_return(session) -> None:
    session.add_prompt(0, 1, points=[[0.5 * W, 0.5 * H]], labels=[1])
    session.add_prompt(0, 2, box=[0.1 * W, 0.1 * H, 0.4 * W, 0.5 * H])
    list(session.propagate())


def dark_spells_clip(num_frames: int, seed: int) -> list[np.ndarray]:
    """The generated clip with black frames 3–4 and 7–8: with the weights of seed 4 the objects' scores
    rise above zero on them and fall below in between, so objects appear, vanish and return."""
    frames = synthetic_clip(num_frames, H, W, seed=seed)
    for t in (3, 4, 7, 8):
        frames[t] = np.zeros_like(frames[t])
    return frames


def dynamic_slots_max_frames(session) -> None:
    session.add_prompt(1, 4, points=[[0.4 * W, 0.6 * H]], labels=[1])
    session.add_prompt(1, 5, box=[0.55 * W, 0.2 * H, 0.9 * W, 0.7 * H])
    list(session.propagate(max_frames=3))
    list(session.propagate(start_frame_idx=4, max_frames=2, reverse=True))


def stream(session, frames: list[np.ndarray]) -> None:
    session.push(frames[0])
    session.add_prompt(0, 1, points=[[0.3 * W, 0.35 * H]], labels=[1])
    session.add_prompt(0, 2, box=[0.53 * W, 0.18 * H, 0.77 * W, 0.6 * H])
    _expect_error(lambda: session.propagate(), SessionError)
    for t in range(1, len(frames)):
        session.push(frames[t])
        if t == 5:
            session.add_prompt(5, 1, points=[[0.35 * W, 0.4 * H]], labels=[1])  # a correction while streaming
        session.stats()


@dataclass(frozen=True)
class Scenario:
    num_frames: int
    capacities: dict
    program: Callable
    seed: int = SEED  # of the synthetic weights
    clip: Callable[[int, int], list[np.ndarray]] = lambda n, seed: synthetic_clip(n, H, W, seed=seed)


SCENARIOS: dict[str, Scenario] = {
    "two_objects_points_and_box": Scenario(5, FIXED, two_objects_points_and_box),
    "mask_prompt_vanish": Scenario(6, FIXED, mask_prompt_vanish),
    "correction_and_reverse": Scenario(7, FIXED, correction_and_reverse),
    "more_cond_frames_than_k": Scenario(8, FIXED, more_cond_frames_than_k),
    "vanish_and_return": Scenario(10, FIXED, vanish_and_return, seed=4, clip=dark_spells_clip),
    "dynamic_slots_max_frames": Scenario(6, DYNAMIC, dynamic_slots_max_frames),
}
STREAM_FRAMES = 24


def tracker(seed: int = SEED) -> Tracker:
    from reference_model import EdgeTamConfig
    from runtime.backends.torch import TorchBackend

    return Tracker(TorchBackend.synthetic(seed, EdgeTamConfig(image_size=IMAGE_SIZE)))


def record_all(out: Path) -> list[Path]:
    trackers = {seed: tracker(seed) for seed in sorted({s.seed for s in SCENARIOS.values()} | {SEED})}
    folders = []
    for name, scenario in SCENARIOS.items():
        recorder = TraceRecorder(trackers[scenario.seed], name, scenario.capacities)
        session = recorder.start(scenario.clip(scenario.num_frames, len(folders)))
        scenario.program(session)
        folders.append(recorder.save(out / name))
    recorder = TraceRecorder(trackers[SEED], "stream", FIXED)
    stream(recorder.start(), synthetic_clip(STREAM_FRAMES, H, W, seed=99))
    folders.append(recorder.save(out / "stream"))
    return folders


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit(f"usage: python -m tests.record_traces [OUT_DIR (default {TRACES})]")
    for folder in record_all(Path(sys.argv[1]) if len(sys.argv) == 2 else TRACES):
        print(folder)
