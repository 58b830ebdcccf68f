"""Traces: each scenario the Swift package replays is recorded, covers what it claims, and replays
bit-exactly through this driver; a tampered trace is caught at the call, tensor and index; `track --trace`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from runtime.trace import TRACE_JSON, TRACE_TENSORS
from runtime.trace_replay import Trace, TraceMismatch, replay
from tests.record_traces import FIXED, SCENARIOS, TRACES, record_all


@pytest.fixture(scope="module")
def traces() -> dict[str, Trace]:
    """Recorded where the Swift tests read them (`make test` runs pytest, then `swift test`)."""
    folders = record_all(TRACES)
    return {folder.name: Trace.load(folder) for folder in folders} | {"_folders": folders}


def calls_of(trace: Trace, stage: str) -> list[dict]:
    return [c for c in trace.meta["stage_calls"] if c["stage"] == stage]


def test_every_scenario_replays_bit_exactly(traces) -> None:
    for folder in traces["_folders"]:
        summary = replay(folder)
        trace = traces[folder.name]
        assert summary.stage_calls == len(trace.meta["stage_calls"]) > 0
        assert summary.frames == sum(len(c.get("results", [])) for c in trace.meta["program"])


def test_scenarios_cover_what_they_claim(traces) -> None:
    assert set(SCENARIOS) | {"stream"} <= set(traces)
    # Errors are part of the program: a prompt outside the frame, NaN, a new object after tracking started.
    errors = [c["error"]["type"] for c in traces["two_objects_points_and_box"].meta["program"] if "error" in c]
    assert errors == ["InputError", "InputError", "SessionError"]
    # Two objects batched through memory attention.
    attention = calls_of(traces["two_objects_points_and_box"], "memory_attention")
    assert attention and all(
        traces["two_objects_points_and_box"].store[c["inputs"]["cond_valid"]].shape == (2, 2) for c in attention
    )
    # A mask prompt runs the mask_prompt stage; an empty mask forces the object absent on its frame.
    mask_trace = traces["mask_prompt_vanish"]
    assert len(calls_of(mask_trace, "mask_prompt")) == 2
    assert any(mask_trace.store[c["inputs"]["object_absent"]].max() == 1 for c in calls_of(mask_trace, "mask_decoder"))
    # A correction on a tracked frame feeds the previous mask back.
    correction = traces["correction_and_reverse"]
    assert any(correction.store[c["inputs"]["use_mask_input"]].max() == 1 for c in calls_of(correction, "mask_decoder"))
    assert any(c["call"] == "propagate" and c["reverse"] for c in correction.meta["program"])
    # More conditioning frames than the K slots: every read fills exactly K of them.
    capped = traces["more_cond_frames_than_k"]
    prompted = {c["frame_idx"] for c in capped.meta["program"] if c["call"] == "add_prompt"}
    assert len(prompted) > FIXED["K"]
    assert all(
        capped.store[c["inputs"]["cond_valid"]].sum() == FIXED["K"] for c in calls_of(capped, "memory_attention")
    )
    # Dynamic slots: memory attention's inputs grow with the bank instead of staying padded.
    dynamic = traces["dynamic_slots_max_frames"]
    assert dynamic.meta["capacities"] == {"K": None, "N": None, "P": None}
    assert len({dynamic.store[c["inputs"]["obj_ptrs"]].shape for c in calls_of(dynamic, "memory_attention")}) > 1


def vanishes_and_returns(present: np.ndarray) -> bool:
    """Whether a per-frame presence sequence goes present → absent → present."""
    seen = gone = False
    for p in present:
        if p and gone:
            return True
        seen = seen or bool(p)
        gone = gone or (seen and not p)
    return False


def test_an_object_vanishes_and_returns(traces) -> None:
    trace = traces["vanish_and_return"]
    scores = np.stack([trace.store[r["object_score_logits"]] for r in trace.meta["results"][2:]])
    assert any(vanishes_and_returns(scores[:, j] > 0) for j in range(scores.shape[1])), scores.round(2).tolist()


def test_a_stream_keeps_constant_state(traces) -> None:
    stats = [c["value"] for c in traces["stream"].meta["program"] if c["call"] == "stats"]
    assert len(stats) > 20
    tail = stats[-6:]
    assert all(s == tail[0] for s in tail), tail


def test_a_tampered_trace_names_the_call_tensor_and_index(traces, tmp_path) -> None:
    source = traces["_folders"][0]
    folder = tmp_path / "tampered"
    shutil.copytree(source, folder)
    trace = Trace.load(folder)
    first = next(c for c in trace.meta["stage_calls"] if c["stage"] == "mask_decoder")
    index = trace.meta["stage_calls"].index(first)
    from safetensors.numpy import save_file

    tensors = dict(trace.store.tensors)
    coords = tensors[first["inputs"]["point_coords"]].copy()
    coords.reshape(-1)[1] += 0.5
    tensors[first["inputs"]["point_coords"]] = coords
    save_file(tensors, str(folder / TRACE_TENSORS))
    with pytest.raises(TraceMismatch, match=rf"stage call {index} \(mask_decoder\) input point_coords: flat index 1"):
        replay(folder)


def test_track_cli_records_a_trace_that_replays(tmp_path) -> None:
    from PIL import Image

    from edgetam_export.cli import main
    from edgetam_export.clip import synthetic_clip

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(synthetic_clip(3, 64, 96)):
        Image.fromarray(frame).save(frames / f"{i:03d}.png")
    args = ["track", "--random-init", "--image-size", "256", str(frames), "--point", "40,30", "--no-progress"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--trace", str(tmp_path / "trace")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "trace" / TRACE_JSON).read_text())
    assert meta["video"]["num_frames"] == 3 and len(meta["results"]) == 4  # the prompt, then 3 tracked frames
    assert replay(tmp_path / "trace").frames == 4
