"""Several sessions on one Tracker, driven from several threads at once, give the same results as the same
sessions run one after another (ONNX and torch backends): the Tracker's backend is shared, read-only state;
each Session is used by one thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from runtime import Tracker
from runtime.backends.torch import TorchBackend
from tests.fuzz.programs import generate
from tests.fuzz.runner import call_problems, run

THREADS = 4


@pytest.fixture(scope="module")
def trackers(onnx_export_256) -> dict[str, Tracker]:
    model, info, folder = onnx_export_256
    return {"onnx": Tracker.load(folder, "onnx"), "torch": Tracker(TorchBackend(model, info))}


def programs() -> list[dict]:
    """Offline sessions with several objects, corrections and reverse tracking, and streams with prompts
    between pushes (invalid calls included: errors must not leak between sessions either)."""
    chosen = [generate(30_000 + i, streaming=False, aligned=True) for i in range(2)]
    chosen.append(generate(30_010, streaming=False))
    chosen.append({**generate(30_021, streaming=True), "calls": generate(30_021, streaming=True)["calls"][:14]})
    return chosen


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_sessions_on_threads_equal_sessions_one_after_another(trackers, backend) -> None:
    tracker = trackers[backend]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        jobs = programs()
        alone = [run(p, tracker) for p in jobs]
        with ThreadPoolExecutor(THREADS) as pool:
            together = list(pool.map(lambda p: run(p, tracker), jobs))
    finally:
        torch.set_num_threads(before)
    frames = 0
    for program, a, b in zip(jobs, alone, together, strict=True):
        assert not call_problems(program, b), call_problems(program, b)[0]
        assert [(o.error, o.message) for o in a] == [(o.error, o.message) for o in b]
        assert [o.stats for o in a] == [o.stats for o in b]
        for x, y in zip(a, b, strict=True):
            assert [r[:2] for r in x.results] == [r[:2] for r in y.results]
            for (_, _, mx, sx, _, _), (_, _, my, sy, _, _) in zip(x.results, y.results):
                assert np.array_equal(mx, my), "a mask differs when sessions run on threads"
                np.testing.assert_array_equal(sx, sy)
                frames += 1
    assert frames > 20
