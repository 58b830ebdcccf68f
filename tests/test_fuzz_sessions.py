"""Random session programs over the public API, on the torch and ONNX backends (image_size 256).

Properties: every call succeeds or raises InputError/SessionError with a message (never anything else,
never a NaN mask, results shaped as the objects and frame); a stream's stats stay within a bound that does
not grow with its length; torch and ONNX give the same masks (IoU ≥ 0.99) for the same program; an object
prompted on the same frames as the others has the same masks tracked alone. A failing program is shrunk
(calls dropped while it still fails) and printed; fixed ones live in tests/fuzz/regressions.json.

Counts: EDGETAM_FUZZ_PROGRAMS (default 24 on ONNX, a quarter of them also on torch); EDGETAM_SOAK=1 runs
400 (figures in build/fuzz/figures.json).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from runtime import Tracker
from runtime.backends.torch import TorchBackend
from tests.fuzz.programs import generate, only_object, program_objects
from tests.fuzz.runner import (
    MIN_IOU,
    agreement_problems,
    call_problems,
    iou,
    masks_by_object,
    run,
    stream_problems,
)
from tests.fuzz.shrink import load_regressions, shrink

SOAK = os.environ.get("EDGETAM_SOAK") == "1"
PROGRAMS = int(os.environ.get("EDGETAM_FUZZ_PROGRAMS", 400 if SOAK else 24))
BOTH_BACKENDS = max(PROGRAMS // 4, 4)
ALIGNED = max(PROGRAMS // 6, 3)
FIGURES = Path(__file__).resolve().parent.parent / "build" / "fuzz" / "figures.json"
figures: dict[str, int] = {}


def count(key: str, n: int = 1) -> None:
    figures[key] = figures.get(key, 0) + n
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps({"programs_requested": PROGRAMS, "soak": SOAK, **figures}, indent=1))


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One thread: on a busy 2-core machine, two spinning torch threads run several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trackers(onnx_export_256) -> dict[str, Tracker]:
    model, info, folder = onnx_export_256
    return {"onnx": Tracker.load(folder, "onnx"), "torch": Tracker(TorchBackend(model, info))}


def problems_of(program: dict, tracker: Tracker) -> list[str]:
    outcomes = run(program, tracker)
    count("programs")
    count("calls", len(program["calls"]))
    count("calls_refused", sum(o.error is not None for o in outcomes))
    return call_problems(program, outcomes) + stream_problems(program, outcomes, tracker.config)


def fail_shrunk(program: dict, still_fails, problems: list[str]) -> None:
    small = shrink(program, still_fails)
    pytest.fail(f"{problems[0][:2000]}\nshrunk program ({len(small['calls'])} calls):\n{json.dumps(small)}")


def test_random_programs_keep_the_call_properties(trackers) -> None:
    onnx = trackers["onnx"]
    for seed in range(PROGRAMS):
        program = generate(seed)
        problems = problems_of(program, onnx)
        if problems:
            fail_shrunk(program, lambda p: bool(problems_of(p, onnx)), problems)


def test_torch_and_onnx_agree_on_random_programs(trackers) -> None:
    for seed in range(10_000, 10_000 + BOTH_BACKENDS):
        program = generate(seed)

        def disagree(p: dict) -> list[str]:
            a, b = run(p, trackers["torch"]), run(p, trackers["onnx"])
            return call_problems(p, a) + agreement_problems(a, b, "torch vs onnx")

        problems = disagree(program)
        count("programs_both_backends")
        count("calls_both_backends", len(program["calls"]))
        if problems:
            fail_shrunk(program, lambda p: bool(disagree(p)), problems)


def independence_problems(program: dict, tracker: Tracker) -> list[str]:
    together = run(program, tracker)
    problems = call_problems(program, together)
    for obj in program_objects(program):
        solo = only_object(program, obj)
        kept = [i for i, c in enumerate(program["calls"]) if c["op"] != "add_prompt" or c["obj"] == obj]
        alone = run(solo, tracker)
        problems += call_problems(solo, alone)
        with_others = {(i, frame): m for i, frame, m in masks_by_object(together, obj)}
        for j, frame, mask in masks_by_object(alone, obj):
            other = with_others.get((kept[j], frame))
            if other is None:
                problems.append(f"object {obj!r}: frame {frame} of call {kept[j]} is missing with the others")
            elif (value := iou(mask, other)) < MIN_IOU:
                problems.append(f"object {obj!r}: call {kept[j]} frame {frame}: IoU {value:.4f} alone vs together")
    return problems


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_an_object_tracked_alone_agrees_with_it_tracked_among_others(trackers, backend) -> None:
    tracker = trackers[backend]
    seeds = range(20_000, 20_000 + (ALIGNED if backend == "onnx" else max(ALIGNED // 3, 1)))
    for seed in seeds:
        program = generate(seed, streaming=False, aligned=True)
        if len(program_objects(program)) < 2:
            program = generate(seed + 50_000, streaming=False, aligned=True)
        problems = independence_problems(program, tracker)
        count(f"independence_programs_{backend}")
        if problems:
            fail_shrunk(program, lambda p: bool(independence_problems(p, tracker)), problems)


@pytest.mark.parametrize("entry", load_regressions(), ids=lambda e: e["name"])
def test_shrunk_regressions_stay_fixed(trackers, entry) -> None:
    for backend in ("onnx", "torch"):
        problems = problems_of(entry["program"], trackers[backend])
        assert not problems, f"{entry['name']} ({entry['found']}) on {backend}: {problems[0]}"
