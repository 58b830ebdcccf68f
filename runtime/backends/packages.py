"""What the two Core ML backends share: a stage package's contract, the input checks, batch chunking.

`coreml` (Core ML itself, macOS) and `mlprogram` (the numpy interpreter, anywhere) run the same
`.mlpackage`s and must accept and refuse the same inputs: every axis but the object batch is fixed by the
export (the capacity axes K, N, P at the export's capacities, which the driver pads to), and a stage
takes at most `max_batch` objects per call — 1 when it was exported with a fixed batch (its package's
`edgetam.batch` metadata says why), so several objects are run one call at a time and stacked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class PackageContract:
    stage: str
    inputs: list[str]
    outputs: list[str]
    shapes: dict[str, tuple[int | None, ...]]  # per input; None on the batch axis
    batched: set[str]  # inputs whose first axis is the object batch
    max_batch: int  # objects per call

    @classmethod
    def from_spec(cls, stage: str, spec, entry: dict) -> PackageContract:
        """From a package's spec (`ct.utils.load_spec` / `MLModel.get_spec()`) and its manifest entry."""
        batch = json.loads(spec.description.metadata.userDefined.get("edgetam.batch", "{}") or "{}")
        batched = {i["name"] for i in entry["inputs"] if i["shape"] and i["shape"][0] == "B"}
        shapes = {}
        for feature in spec.description.input:
            kind = feature.type.WhichOneof("Type")
            dims = list(feature.type.multiArrayType.shape) if kind == "multiArrayType" else []
            batch_axis = 0 if feature.name in batched else -1
            shapes[feature.name] = tuple(None if i == batch_axis else int(d) for i, d in enumerate(dims))
        return cls(
            stage=stage,
            inputs=[f.name for f in spec.description.input],
            outputs=[f.name for f in spec.description.output],
            shapes=shapes,
            batched=batched,
            max_batch=max(1, int(batch.get("max", 1))),
        )

    def check(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The float32 feed of a call: every input present with the package's shape (any object batch,
        the same for every batched input)."""
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise InputError(f"{self.stage}: missing input(s) {missing}; the package takes {self.inputs}")
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self.inputs}
        batches = set()
        for name, value in feed.items():
            want = self.shapes.get(name)
            if not want:
                continue
            fits = value.ndim == len(want) and all(w is None or w == d for w, d in zip(want, value.shape))
            if not fits:
                shown = ["B" if w is None else w for w in want]
                raise InputError(
                    f"{self.stage}: input {name} has shape {list(value.shape)}, the Core ML package takes {shown} "
                    "(capacity axes are fixed at export: pad to them, or export with other --cond-slots/--point-slots)"
                )
            if name in self.batched:
                batches.add(value.shape[0])
        if len(batches) > 1:
            raise InputError(f"{self.stage}: batched inputs disagree on the object count: {sorted(batches)}")
        return feed

    def run_chunked(
        self, predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """`predict` on at most `max_batch` objects at a time; outputs stacked along the batch axis."""
        feed = self.check(inputs)
        batched = [name for name in self.inputs if name in self.batched]
        total = feed[batched[0]].shape[0] if batched else 1
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs}
        for start in range(0, total, self.max_batch):
            chunk = {
                name: value[start : start + self.max_batch] if name in self.batched else value
                for name, value in feed.items()
            }
            result = predict(chunk)
            for name in self.outputs:
                parts[name].append(np.asarray(result[name], dtype=np.float32))
        return {name: arrays[0] if len(arrays) == 1 else np.concatenate(arrays) for name, arrays in parts.items()}
