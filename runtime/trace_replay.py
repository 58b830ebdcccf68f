"""Replaying a trace through this runtime's driver: the Python twin of the Swift package's replay.

`replay(folder)` drives a fresh session with the trace's program through `ReplayBackend`, which checks
every stage call against the recording (stage, input names, shapes, values: bit-exact) and returns the
recorded outputs; results and stats must equal the recorded ones. It proves a trace self-consistent and
this driver deterministic, and it is the specification the Swift `TraceReplayer` follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, SessionError
from .trace import TRACE_FORMAT, TRACE_JSON, TRACE_TENSORS, TRACE_VERSION, TensorStore, TraceMismatch
from .tracker import FrameResult, Tracker


@dataclass
class Trace:
    meta: dict
    store: TensorStore

    @classmethod
    def load(cls, folder: str | Path) -> Trace:
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            meta = json.loads((folder / TRACE_JSON).read_text())
            tensors = load_file(str(folder / TRACE_TENSORS))
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder} is not a readable trace folder ({exc}); record one with --trace") from exc
        if meta.get("format") != TRACE_FORMAT or meta.get("format_version") != TRACE_VERSION:
            raise InputError(
                f"{folder / TRACE_JSON} is not an {TRACE_FORMAT} version {TRACE_VERSION} trace "
                f"(format {meta.get('format')!r}, version {meta.get('format_version')!r})"
            )
        return cls(meta, TensorStore(tensors))


def first_difference(got: np.ndarray, want: np.ndarray) -> str | None:
    """None when equal (shape and every bit of every value), else where and how they differ."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, recorded {list(want.shape)}"
    differs = got.astype(want.dtype) != want
    if not differs.any():
        return None
    index = int(np.flatnonzero(differs)[0])
    return f"flat index {index}: {got.reshape(-1)[index]!r}, recorded {want.reshape(-1)[index]!r}"


class ReplayBackend:
    """Serves the recorded stage calls in order, checking each request against the recording."""

    name = "replay"

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.config = trace.meta["config"]
        self.capacities = dict(trace.meta["capacities"])
        self.weights = {"source": "trace"}
        self.next_call = 0
        self.where = "start"  # the public call being replayed, for messages

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls = self.trace.meta["stage_calls"]
        index = self.next_call
        if index >= len(calls):
            raise TraceMismatch(f"{self.where}: stage call {index} ({stage}) was not recorded (recorded: {len(calls)})")
        recorded = calls[index]
        prefix = f"{self.where}: stage call {index}"
        if stage != recorded["stage"]:
            raise TraceMismatch(f"{prefix} is {stage}, recorded {recorded['stage']}")
        if sorted(inputs) != sorted(recorded["inputs"]):
            raise TraceMismatch(f"{prefix} ({stage}) inputs {sorted(inputs)}, recorded {sorted(recorded['inputs'])}")
        for name, tensor in recorded["inputs"].items():
            difference = first_difference(inputs[name], self.trace.store[tensor])
            if difference:
                raise TraceMismatch(f"{prefix} ({stage}) input {name}: {difference}")
        self.next_call += 1
        return {name: self.trace.store[tensor].copy() for name, tensor in recorded["outputs"].items()}


@dataclass
class ReplaySummary:
    stage_calls: int
    frames: int
    calls: int


def _check_result(got: FrameResult, recorded: dict, trace: Trace, where: str) -> None:
    if got.frame_idx != recorded["frame_idx"] or [int(o) for o in got.obj_ids] != recorded["obj_ids"]:
        raise TraceMismatch(
            f"{where}: frame {got.frame_idx} objects {got.obj_ids}, "
            f"recorded frame {recorded['frame_idx']} objects {recorded['obj_ids']}"
        )
    for field in ("mask_logits", "object_score_logits"):
        difference = first_difference(getattr(got, field), trace.store[recorded[field]])
        if difference:
            raise TraceMismatch(f"{where}: frame {got.frame_idx} {field}: {difference}")


def replay(folder: str | Path) -> ReplaySummary:
    """Drive this runtime's session through a trace; raises TraceMismatch at the first difference."""
    trace = Trace.load(folder)
    backend = ReplayBackend(trace)
    video = trace.meta["video"]
    frames = trace.store[video["frames"]]
    session = Tracker(backend).start(None if video["streaming"] else list(frames))
    frames_compared = 0
    for number, call in enumerate(trace.meta["program"]):
        if call["call"] == "push" and call["frame"] is None:
            continue  # a rejected frame is not stored: nothing to replay, and it changed no state
        backend.where = where = f"call {number} ({call['call']})"
        try:
            results = _run_call(session, call, trace, frames)
        except (InputError, SessionError) as exc:
            expected = call.get("error", {}).get("type")
            if expected != type(exc).__name__:
                recorded = expected or "success"
                raise TraceMismatch(f"{where} raised {type(exc).__name__}: {exc}; recorded {recorded}") from exc
            results = None
        else:
            if "error" in call:
                raise TraceMismatch(f"{where} succeeded; recorded {call['error']['type']}: {call['error']['message']}")
        if backend.next_call != call["stage_calls"][1]:
            raise TraceMismatch(f"{where} made stage calls up to {backend.next_call}, recorded {call['stage_calls']}")
        if call["call"] == "stats":
            if results != call["value"]:
                raise TraceMismatch(f"{where}: {results}, recorded {call['value']}")
        elif results is not None:
            if len(results) != len(call["results"]):
                raise TraceMismatch(f"{where}: {len(results)} frames, recorded {len(call['results'])}")
            for got, index in zip(results, call["results"]):
                _check_result(got, trace.meta["results"][index], trace, where)
                frames_compared += 1
    return ReplaySummary(backend.next_call, frames_compared, len(trace.meta["program"]))


def _run_call(session, call: dict, trace: Trace, frames: np.ndarray):
    kind = call["call"]
    if kind == "add_prompt":
        mask = None if call["mask"] is None else trace.store[call["mask"]].astype(bool)
        args = (call["points"], call["labels"], call["box"], mask)
        return [session.add_prompt(call["frame_idx"], call["obj_id"], *args)]
    if kind == "propagate":
        return list(session.propagate(call["start_frame_idx"], call["max_frames"], call["reverse"]))
    if kind == "push":
        return [session.push(frames[call["frame"]])]
    if kind == "stats":
        return session.stats()
    raise TraceMismatch(f"unknown call {kind!r} in the trace")


__all__ = ["ReplayBackend", "ReplaySummary", "Trace", "replay"]
