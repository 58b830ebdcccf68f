"""The runtime's API beyond parity: input errors, streaming against offline, bounded streaming state,
and `import runtime` without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgetam_export.clip import disc_mask, synthetic_clip
from reference_model import WeightsInfo
from runtime import InputError, SessionError, Tracker
from runtime.backends.torch import TorchBackend
from runtime.contract import STAGES, model_sizes, resolve
from tests.conftest import SEED

H, W = 240, 320


@pytest.fixture(scope="module")
def tracker(small_model) -> Tracker:
    return Tracker(TorchBackend(small_model, WeightsInfo("synthetic", seed=SEED)))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synthetic_clip(5, H, W)


def test_import_runtime_imports_no_torch():
    code = "import runtime, sys; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": [[400, 10]], "labels": [1]}, r"outside the 320×240 frame"),
        ({"points": [[float("nan"), 10]], "labels": [1]}, "NaN"),
        ({"points": [[10, 10]], "labels": [2]}, "2 and 3 are box corners"),
        ({"points": [[10, 10], [20, 20]], "labels": [1]}, "2 points but 1 labels"),
        ({"points": [[10, 10]]}, "points and labels go together"),
        ({"box": [100, 10, 50, 60]}, "x1 < x0"),
        ({"box": [0, 0, 10]}, r"\[x0, y0, x1, y1\]"),
        ({"mask": np.zeros((10, 10), bool)}, r"mask has shape \(10, 10\) but the frame is 240×320"),
        ({"mask": np.ones((H, W), bool), "points": [[1, 1]], "labels": [1]}, "either a mask or points"),
        ({}, "needs points with labels, a box, or a mask"),
    ],
)
def test_bad_prompts(tracker, frames, kwargs, message):
    session = tracker.start(frames)
    with pytest.raises(InputError, match=message):
        session.add_prompt(0, 1, **kwargs)


def test_bad_videos_and_session_misuse(tracker, frames):
    with pytest.raises(InputError, match="no frames"):
        tracker.start([])
    with pytest.raises(InputError, match=r"H×W×3 uint8.*float64"):
        tracker.start([np.zeros((4, 4, 3))])
    with pytest.raises(InputError, match="all frames of a session must have one size"):
        session = tracker.start([frames[0], frames[1][:100]])
        session.add_prompt(1, 1, points=[[5, 5]], labels=[1])
    session = tracker.start(frames)
    with pytest.raises(InputError, match="outside the video"):
        session.add_prompt(9, 1, points=[[5, 5]], labels=[1])
    with pytest.raises(SessionError, match="add a prompt"):
        next(session.propagate())
    session.add_prompt(0, 1, points=[[100, 80]], labels=[1])
    with pytest.raises(SessionError, match="push"):
        session.push(frames[0])
    next(session.propagate())
    with pytest.raises(SessionError, match=r"unknown object id 5.*known ids: \[1\]"):
        session.add_prompt(2, 5, points=[[5, 5]], labels=[1])


def test_streaming_equals_offline(tracker, frames):
    offline = tracker.start(frames)
    offline.add_prompt(0, 1, points=[[100, 80]], labels=[1])
    offline.add_prompt(0, 2, mask=disc_mask(H, W, 0.65, 0.3))
    expected = list(offline.propagate())

    stream = tracker.start()
    first = stream.push(frames[0])
    assert first.obj_ids == [] and first.mask_logits.shape == (0, H, W)
    with pytest.raises(InputError, match="only the frame just pushed"):
        stream.add_prompt(1, 1, points=[[100, 80]], labels=[1])
    stream.add_prompt(0, 1, points=[[100, 80]], labels=[1])
    stream.add_prompt(0, 2, mask=disc_mask(H, W, 0.65, 0.3))
    got = [stream.push(f) for f in frames[1:]]
    for want, have in zip(expected[1:], got, strict=True):
        assert want.frame_idx == have.frame_idx and want.obj_ids == have.obj_ids
        np.testing.assert_array_equal(want.mask_logits, have.mask_logits)
        np.testing.assert_array_equal(want.object_score_logits, have.object_score_logits)


class ConstantBackend:
    """A stand-in backend that returns zeros of each stage's output shapes: tests the driver, not the model."""

    name = "constant"
    capacities = {"K": None, "N": None, "P": None}
    weights = {"kind": "none"}

    def __init__(self, config: dict) -> None:
        self.config = config
        self.sizes = model_sizes(config)

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = max((a.shape[0] for n, a in inputs.items() if n not in ("vision_feats", "image")), default=1)
        sizes = {**self.sizes, "B": batch}
        return {t.name: np.zeros(resolve(t.shape, sizes), np.float32) for t in STAGES[stage].outputs}


def test_streaming_state_stays_constant():
    """10,000 pushed frames through a stand-in backend: the state stops growing once the bank is full."""
    from reference_model import EdgeTamConfig

    tracker = Tracker(ConstantBackend(EdgeTamConfig(image_size=256).to_dict()))
    stream = tracker.start()
    frame = np.zeros((48, 64, 3), np.uint8)
    stream.push(frame)
    stream.add_prompt(0, 1, points=[[10, 10]], labels=[1])
    stream.add_prompt(0, 2, box=[20, 20, 40, 30])
    stats = [stream.push(frame) and stream.stats() for _ in range(10_000)]
    settled = stats[20:]
    assert len({s["state_bytes"] for s in settled}) == 1, (settled[0], settled[-1])
    assert len({s["frames_retained"] for s in settled}) == 1
    # The prompted frame, the 15 earlier frames whose pointers are read, and the newest frame.
    assert settled[-1]["frames_retained"] == 17
    assert stats[-1]["state_bytes"] < 3_000_000, stats[-1]
