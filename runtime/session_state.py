"""What a session remembers between calls, and the rules that tie it together, in one place.

A session's state is five collections. Each rule below is kept by the methods of `SessionState`; nothing
else writes them (the Swift package's `SessionState` mirrors this type):

1. `obj_ids`: the objects in the order they were first prompted. Object i is row i of every output.
   The list is closed once tracking starts (`tracking_started`): later prompts may only name known ids.
2. `pending[kind][frame][i]`: object i's output from `add_prompt`, not yet in the bank. `kind` is "cond"
   for a frame that had not been tracked when it was prompted (it becomes a conditioning memory) and
   "non_cond" for a correction on a tracked frame.
3. `cond[frame]` / `non_cond[frame]`: the bank, one `FrameMemory` per frame for all objects. A frame is
   in at most one of them; a frame that becomes conditioning leaves `non_cond`. Both keep the order in
   which frames were first stored (dict order), as the original's output dicts do: that order fixes
   the conditioning slots' order.
4. `prompted[kind]`: frames whose bank entry came from prompts (`consolidate`). Propagation reuses their
   output instead of tracking them again. A frame is prompted as "non_cond" only if it is not "cond".
5. `tracked[frame]`: the direction a frame was last tracked in (True: reverse). A prompt on a tracked
   frame is a correction, conditioned on memory as in that direction.

Streaming sessions call `forget_unreachable` after every frame, which drops what no later frame can read,
so the state stays constant however long the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .memory_bank import FrameMemory

Kind = Literal["cond", "non_cond"]
KINDS: tuple[Kind, Kind] = ("cond", "non_cond")


@dataclass
class ObjectOutput:
    """One object's output on one frame (batch axis of 1), before it is consolidated into the bank."""

    low_res_masks: np.ndarray  # [1, 1, 4F, 4F]
    obj_ptr: np.ndarray  # [1, C]
    object_score_logits: np.ndarray  # [1, 1]

    @property
    def nbytes(self) -> int:
        return self.low_res_masks.nbytes + self.obj_ptr.nbytes + self.object_score_logits.nbytes


@dataclass
class SessionState:
    """The objects, pending prompt outputs and memory bank of one session (see the module docstring)."""

    obj_ids: list = field(default_factory=list)
    pending: dict[Kind, dict[int, dict[int, ObjectOutput]]] = field(
        default_factory=lambda: {"cond": {}, "non_cond": {}}
    )
    cond: dict[int, FrameMemory] = field(default_factory=dict)
    non_cond: dict[int, FrameMemory] = field(default_factory=dict)
    prompted: dict[Kind, set[int]] = field(default_factory=lambda: {"cond": set(), "non_cond": set()})
    tracked: dict[int, bool] = field(default_factory=dict)
    tracking_started: bool = False

    # ------------------------------------------------------------------------------------------ objects

    def object_index(self, obj_id: object) -> int | None:
        """Row of a known object, or None."""
        for i, known in enumerate(self.obj_ids):
            if known == obj_id:
                return i
        return None

    def add_object(self, obj_id: object) -> int:
        """Row of a new object (rule 1: only before tracking starts; the caller checks)."""
        assert not self.tracking_started, "objects are closed once tracking starts"
        self.obj_ids.append(obj_id)
        return len(self.obj_ids) - 1

    # ------------------------------------------------------------------------------------------ prompts

    def prompt_kind(self, frame_idx: int) -> tuple[Kind, bool]:
        """(kind of a prompt on this frame, direction to condition it in) — rules 2 and 5."""
        if frame_idx in self.tracked:
            return "non_cond", self.tracked[frame_idx]
        return "cond", False

    def set_pending(self, kind: Kind, frame_idx: int, obj: int, output: ObjectOutput) -> None:
        """A prompt's output replaces the object's earlier one on that frame (rule 2)."""
        self.pending[kind].setdefault(frame_idx, {})[obj] = output

    def pending_frames(self, kind: Kind) -> list[int]:
        return sorted(self.pending[kind])

    def latest_output(self, frame_idx: int, obj: int, kind: Kind) -> ObjectOutput | None:
        """The object's latest output on a frame: pending of `kind` first, then the bank (the original's lookup).
        A bank entry whose masks were dropped (streaming) has no output to give."""
        output = self.pending[kind].get(frame_idx, {}).get(obj)
        if output is not None:
            return output
        for store in (self.cond, self.non_cond):
            memory = store.get(frame_idx)
            if memory is not None and memory.low_res_masks is not None:
                rows = slice(obj, obj + 1)
                return ObjectOutput(memory.low_res_masks[rows], memory.obj_ptr[rows], memory.object_score_logits[rows])
        return None

    # --------------------------------------------------------------------------------------------- bank

    def store_prompted(self, kind: Kind, frame_idx: int, memory: FrameMemory) -> None:
        """A consolidated prompt frame enters the bank (rules 3 and 4)."""
        (self.cond if kind == "cond" else self.non_cond)[frame_idx] = memory
        self.prompted[kind].add(frame_idx)

    def finish_consolidation(self) -> None:
        """After `store_prompted` for every pending frame: clear pending, keep rules 3 and 4, and close the
        object list once a conditioning frame exists (rule 1)."""
        for kind in KINDS:
            self.pending[kind].clear()
        for frame_idx in self.cond:
            self.non_cond.pop(frame_idx, None)
        self.prompted["non_cond"] -= self.prompted["cond"]
        self.tracking_started = self.tracking_started or bool(self.cond)

    def reusable(self, frame_idx: int) -> FrameMemory | None:
        """The bank entry of a prompted frame, which propagation reuses instead of tracking it (rule 4)."""
        if frame_idx in self.prompted["cond"]:
            return self.cond[frame_idx]
        if frame_idx in self.prompted["non_cond"]:
            return self.non_cond[frame_idx]
        return None

    def store_tracked(self, frame_idx: int, memory: FrameMemory) -> None:
        self.non_cond[frame_idx] = memory

    def mark_tracked(self, frame_idx: int, reverse: bool) -> None:
        self.tracked[frame_idx] = reverse

    def memory(self, frame_idx: int, from_cond: bool) -> FrameMemory:
        return (self.cond if from_cond else self.non_cond)[frame_idx]

    # ----------------------------------------------------------------------------------------- streaming

    def forget_unreachable(self, frame_idx: int, recent: int, ptr_window: int, max_cond: int | None) -> None:
        """Streaming: drop what no frame after `frame_idx` can read.

        Later frames read the memories of the last `recent` frames, the pointers of the last `ptr_window`
        frames and the conditioning frames (all of them, or the `max_cond` closest: the newest). Only the
        newest frame can still be corrected, so only it keeps its masks.
        """
        horizon = frame_idx - max(recent, ptr_window)
        for t in [t for t in self.non_cond if t < horizon]:
            del self.non_cond[t]
        for t, memory in self.non_cond.items():
            if t < frame_idx - recent:
                memory.mem_bits = None  # only its pointer is still read
            if t != frame_idx:
                memory.low_res_masks = None
        for t, memory in self.cond.items():
            if t != frame_idx:
                memory.low_res_masks = None
        if max_cond is not None and len(self.cond) > max_cond:
            keep = set(sorted(self.cond, reverse=True)[:max_cond])
            for t in [t for t in self.cond if t not in keep and t < horizon]:
                del self.cond[t]
        self.tracked = {frame_idx: False}
        self.prompted = {kind: {t for t in frames if t == frame_idx} for kind, frames in self.prompted.items()}

    # ------------------------------------------------------------------------------------------- figures

    def memories(self) -> Iterator[FrameMemory]:
        yield from self.cond.values()
        yield from self.non_cond.values()

    @property
    def nbytes(self) -> int:
        """Bytes of the bank and the pending outputs."""
        pending = (o for frames in self.pending.values() for outputs in frames.values() for o in outputs.values())
        return sum(m.nbytes for m in self.memories()) + sum(o.nbytes for o in pending)
