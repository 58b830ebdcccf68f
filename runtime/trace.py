"""Traces: a session's program, every stage call and every frame result, recorded for replay.

A trace proves another driver (the Swift package's) equal to this one: replayed through a runner that
checks each stage input against the recording and hands back the recorded outputs, the other driver must
make the same stage calls in the same order with the same inputs, and give the same results.

A trace is a folder holding `trace.json` and `tensors.safetensors` (identical tensors are stored once,
under a content-derived name). trace.json:

    format "edgetam-trace", format_version 1, toolkit_version, backend, scenario
    config       the model config (manifest.json's model.config)
    capacities   {"K", "N", "P"}: fixed slot counts, or null where the driver sizes slots to need
    video        {"streaming", "num_frames", "height", "width", "frames": U8 [n, H, W, 3]} (streaming:
                 the pushed frames, in order)
    program      the public calls, in order, each with "stage_calls": [begin, end) into stage_calls:
                   {"call": "add_prompt", "frame_idx", "obj_id", "points", "labels", "box", "mask": U8 [H, W]
                    or null, "results": [i]}
                   {"call": "propagate", "start_frame_idx", "max_frames", "reverse", "results": [i, ...]}
                   {"call": "push", "frame": k (into video.frames), "results": [i]}
                   {"call": "stats", "value": {"frames_retained", "state_bytes", "objects"}}
                 a call that raised carries "error": {"type": "InputError" | "SessionError", "message"}
    stage_calls  {"stage", "inputs": {name: tensor}, "outputs": {name: tensor}} (F32)
    results      {"frame_idx", "obj_ids", "mask_logits": F32 [N, H, W], "object_score_logits": F32 [N]}

A traced session's `propagate` runs to its end inside the call, so the recording is whole.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import InputError, SessionError
from .staging import staged_folder
from .tracker import FrameResult, Session, Tracker

TRACE_FORMAT = "edgetam-trace"
TRACE_VERSION = 1
TRACE_JSON = "trace.json"
TRACE_TENSORS = "tensors.safetensors"


def toolkit_version() -> str:
    try:
        return importlib.metadata.version("edgetam-export")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class TraceMismatch(AssertionError):
    """A replayed driver did something other than the recorded one; the message names the call and tensor."""


class TensorStore:
    """Tensors of a trace by name; adding an identical tensor twice stores it once."""

    def __init__(self, tensors: dict[str, np.ndarray] | None = None) -> None:
        self.tensors: dict[str, np.ndarray] = dict(tensors or {})

    def add(self, array: np.ndarray, dtype: type = np.float32) -> str:
        array = np.ascontiguousarray(array, dtype=dtype)
        digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()[:20]
        self.tensors.setdefault(digest, array)
        return digest

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]


class RecordingBackend:
    """A backend that records every stage call; `capacities` may pin the slot counts the driver pads to
    (a torch backend then stands for a fixed-capacity Core ML export)."""

    def __init__(self, backend, trace: dict, store: TensorStore, capacities: dict | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        self.config = backend.config
        self.weights = backend.weights
        self.capacities = dict(capacities) if capacities is not None else dict(backend.capacities)
        self._trace = trace
        self._store = store

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.backend.run(stage, inputs)
        self._trace["stage_calls"].append(
            {
                "stage": stage,
                "inputs": {k: self._store.add(v) for k, v in inputs.items()},
                "outputs": {k: self._store.add(v) for k, v in outputs.items()},
            }
        )
        return outputs


class TraceRecorder:
    """Records one session on a tracker: `session = recorder.start(frames)`, drive it, `recorder.save(dir)`."""

    def __init__(self, tracker: Tracker, scenario: str = "", capacities: dict | None = None) -> None:
        self.store = TensorStore()
        self.trace: dict = {
            "format": TRACE_FORMAT,
            "format_version": TRACE_VERSION,
            "toolkit_version": toolkit_version(),
            "backend": tracker.backend.name,
            "scenario": scenario,
            "config": tracker.config,
            "capacities": {},
            "video": {},
            "program": [],
            "stage_calls": [],
            "results": [],
        }
        backend = RecordingBackend(tracker.backend, self.trace, self.store, capacities)
        self.trace["capacities"] = {k: backend.capacities.get(k) for k in ("K", "N", "P")}
        self.tracker = Tracker(backend)
        self._frames: list[np.ndarray] = []
        self._started = False

    # A recorder stands in for the Tracker it records (start, backend, config).
    @property
    def backend(self) -> RecordingBackend:
        return self.tracker.backend

    @property
    def config(self) -> dict:
        return self.tracker.config

    def start(self, frames: Sequence[np.ndarray] | None = None) -> RecordedSession:
        if self._started:
            raise SessionError("a recorder records one session; make a new TraceRecorder for another")
        self._started = True
        session = self.tracker.start(frames)
        streaming = frames is None
        if not streaming:
            self._frames = [np.asarray(f) for f in frames]
        self.trace["video"] = {"streaming": streaming}
        return RecordedSession(session, self)

    def save(self, folder: str | Path) -> Path:
        """Write the trace folder (staged beside it, then moved into place)."""
        from safetensors.numpy import save_file

        if not self._frames:
            raise SessionError("nothing to save: the recorded session saw no frames")
        h, w = self._frames[0].shape[:2]
        video = self.trace["video"]
        video.update(num_frames=len(self._frames), height=h, width=w)
        video["frames"] = self.store.add(np.stack(self._frames), np.uint8)
        folder = Path(folder)
        with staged_folder(folder, SessionError) as staging:
            (staging / TRACE_JSON).write_text(json.dumps(self.trace, indent=1) + "\n")
            save_file(self.store.tensors, str(staging / TRACE_TENSORS), metadata={"format": TRACE_FORMAT})
        return folder

    # called by RecordedSession
    def call(self, record: dict, run) -> list[FrameResult]:
        record["stage_calls"] = [len(self.trace["stage_calls"]), None]
        self.trace["program"].append(record)
        try:
            results = run()
        except (InputError, SessionError) as exc:
            record["error"] = {"type": type(exc).__name__, "message": str(exc)}
            raise
        finally:
            record["stage_calls"][1] = len(self.trace["stage_calls"])
        if results is not None:
            record["results"] = [self._result(r) for r in results]
        return results

    def _result(self, r: FrameResult) -> int:
        self.trace["results"].append(
            {
                "frame_idx": int(r.frame_idx),
                "obj_ids": [int(o) for o in r.obj_ids],
                "mask_logits": self.store.add(r.mask_logits),
                "object_score_logits": self.store.add(r.object_score_logits),
            }
        )
        return len(self.trace["results"]) - 1


def _json_numbers(value: object) -> object:
    return None if value is None else np.asarray(value, dtype=np.float64).tolist()


class RecordedSession:
    """A session whose public calls are recorded (same API as `Session`)."""

    def __init__(self, session: Session, recorder: TraceRecorder) -> None:
        self.session = session
        self._recorder = recorder

    @property
    def obj_ids(self) -> list:
        return self.session.obj_ids

    def add_prompt(self, frame_idx, obj_id, points=None, labels=None, box=None, mask=None) -> FrameResult:
        record = {
            "call": "add_prompt",
            "frame_idx": int(frame_idx),
            "obj_id": int(obj_id),
            "points": _json_numbers(points),
            "labels": _json_numbers(labels),
            "box": _json_numbers(box),
            "mask": None if mask is None else self._recorder.store.add(np.asarray(mask) > 0, np.uint8),
        }
        run = lambda: [self.session.add_prompt(frame_idx, obj_id, points, labels, box, mask)]  # noqa: E731
        return self._recorder.call(record, run)[0]

    def propagate(self, start_frame_idx=None, max_frames=None, reverse=False) -> Iterator[FrameResult]:
        record = {"call": "propagate", "start_frame_idx": start_frame_idx, "max_frames": max_frames, "reverse": reverse}
        run = lambda: list(self.session.propagate(start_frame_idx, max_frames, reverse))  # noqa: E731
        return iter(self._recorder.call(record, run))

    def push(self, frame: np.ndarray) -> FrameResult:
        """A pushed frame the session rejects is recorded with "frame": null (the error is what a replay
        checks); accepted frames are stored in video.frames."""
        frames = self._recorder._frames
        record = {"call": "push", "frame": len(frames)}
        frames.append(np.asarray(frame))
        try:
            return self._recorder.call(record, lambda: [self.session.push(frame)])[0]
        except (InputError, SessionError):
            frames.pop()
            record["frame"] = None
            raise

    def stats(self) -> dict[str, int]:
        value = self.session.stats()
        record = {"call": "stats", "value": value}
        self._recorder.call(record, lambda: None)
        return value
