"""The driver: runs the stage graphs frame by frame and keeps each object's memory outside them.

Semantics are the original `SAM2VideoPredictor`'s (prompts on any frame, several objects batched,
corrections on tracked frames, several conditioning frames, forward and reverse propagation); see the
README for the few documented differences. The driver never knows which backend it talks to.

    tracker = Tracker.load("edgetam.pt", backend="torch")
    session = tracker.start(frames)                  # offline: a sequence of H×W×3 uint8 RGB frames
    r = session.add_prompt(0, obj_id=1, points=[[210, 350]], labels=[1])
    for r in session.propagate():
        r.frame_idx, r.obj_ids, r.mask_logits       # mask_logits: float32 [N, H, W]

    stream = tracker.start()                         # streaming: push frames one at a time
    stream.push(frame0); stream.add_prompt(0, 1, box=[...]); r = stream.push(frame1)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import Backend, load_backend
from .errors import InputError, SessionError
from .memory_bank import FrameMemory, from_bfloat16_bits, select_memories, to_bfloat16_bits
from .preprocess import preprocess_frame
from .prompts import mask_prompt, point_prompt
from .resize import resize_bilinear, resize_bilinear_antialias
from .session_state import Kind, ObjectOutput, SessionState

NO_OBJ_SCORE = -1024.0  # the original's mask score (and here also object score) of an absent object
MASK_LOGIT_CLAMP = 32.0  # the original clamps previous logits fed back with correction clicks
MASK_PROMPT_SCALE, MASK_PROMPT_BIAS = 20.0, -10.0  # a mask prompt as logits: ±10


def _whole(value: object, name: str) -> int:
    """An integer argument (a Python or numpy integer, or a float with no fraction), else InputError."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    raise InputError(f"{name} must be a whole number; got {value!r}")


@dataclass
class FrameResult:
    """One frame's masks: `mask_logits` [N, H, W] at the frame's size (> 0 is foreground) and
    `object_score_logits` [N] (> 0: the object is present), for `obj_ids` in that order."""

    frame_idx: int
    obj_ids: list
    mask_logits: np.ndarray
    object_score_logits: np.ndarray

    @property
    def masks(self) -> np.ndarray:
        return self.mask_logits > 0


class Tracker:
    """A loaded model: start sessions on it.

    Threads: one Tracker may serve many sessions on many threads at once. It holds only the loaded stages,
    which tracking never changes: onnxruntime's `InferenceSession.run` is thread-safe, and the torch stages
    run under `inference_mode` without writing any module state (the coreml backend, macOS only, is not
    tested here). Sessions on threads give exactly the results of the same sessions run one after
    another (tests/test_concurrent_sessions.py). Not covered: exporting or re-configuring the torch model of
    a tracker while it tracks (the exporters switch module flags), and a `TraceRecorder`, which records one
    session.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.config = backend.config

    @classmethod
    def load(cls, path: str | Path, backend: str = "torch", verify_files: bool = True) -> Tracker:
        """A checkpoint (torch backend) or an export folder (onnx, coreml). An export's model files are
        checked against the sha256 its manifest records before they are parsed; `verify_files=False`
        skips that (it reads every byte once: about 0.1 s for a 1024² ONNX export)."""
        return cls(load_backend(path, backend, verify_files))

    def start(self, frames: Sequence[np.ndarray] | None = None) -> Session:
        """An offline session over `frames`, or a streaming session (push frames) when frames is None."""
        return Session(self, frames)


class Session:
    """One video (offline) or one stream: its objects, prompts and memory bank.

    Not thread-safe: every call reads and changes the session's state (the bank, the cached features of
    the newest frame), so drive a session from one thread at a time (a lock around it is enough); use one
    session per video or camera, each on its own thread if you like. `propagate` is a generator: calls
    made between its results see the state as of the last frame yielded.
    """

    def __init__(self, tracker: Tracker, frames: Sequence[np.ndarray] | None) -> None:
        self.backend = tracker.backend
        cfg = tracker.config
        self.cfg = cfg
        self.image_size: int = cfg["image_size"]
        self.low_res_size: int = 4 * (self.image_size // cfg["backbone_stride"])  # side of the decoder's masks
        self.streaming = frames is None
        self._frames: Sequence[np.ndarray] | list[np.ndarray] = [] if frames is None else frames
        self.height = self.width = 0
        if not self.streaming:
            if len(self._frames) == 0:
                raise InputError("the video has no frames; give at least one H×W×3 uint8 frame")
            self.height, self.width = self._check_frame(self._frames[0], 0)
        self._num_pushed = 0
        self._state = SessionState()  # objects, pending prompt outputs, the memory bank (rules there)
        # Caches of stage outputs (not state: recomputable): the newest frame's image features, which
        # prompts on it and then tracking it share, as the original caches them; the no-object pointer.
        self._features: tuple[int, dict[str, np.ndarray]] | None = None
        self._no_obj_ptr: np.ndarray | None = None

    # ----------------------------------------------------------------------------------------- public

    @property
    def num_frames(self) -> int | None:
        return None if self.streaming else len(self._frames)

    @property
    def obj_ids(self) -> list:
        return list(self._state.obj_ids)

    def add_prompt(
        self,
        frame_idx: int,
        obj_id: object,
        points: object = None,
        labels: object = None,
        box: object = None,
        mask: object = None,
    ) -> FrameResult:
        """Prompt one object on one frame (points with labels, a box, both, or a mask) and run that frame.

        The prompt replaces that object's earlier prompt on that frame. On a frame already tracked it
        is a correction: the previous mask is fed back with the new points, as in the original.
        """
        self._check_prompt_frame(frame_idx)
        if mask is not None and (points is not None or box is not None):
            raise InputError("give either a mask or points/box for one call, not both")
        if mask is not None:
            binary = mask_prompt(mask, self.width, self.height)
        else:
            coords, codes = point_prompt(points, labels, box, self.width, self.height, self.image_size)
        obj = self._object_index(obj_id)
        kind, reverse = self._state.prompt_kind(frame_idx)
        feats = self._image_features(frame_idx)
        if mask is not None:
            out = self._decode_mask_prompt(feats, binary)
        else:
            out = self._decode_points(frame_idx, obj, feats, coords, codes, kind, reverse)
        self._state.set_pending(kind, frame_idx, obj, out)
        return self._prompt_frame_result(frame_idx, kind)

    def propagate(
        self, start_frame_idx: int | None = None, max_frames: int | None = None, reverse: bool = False
    ) -> Iterator[FrameResult]:
        """Track every object through the video from `start_frame_idx` (default: the earliest prompted
        frame), forward or in reverse, yielding each frame's result as it is computed."""
        if self.streaming:
            raise SessionError("a streaming session tracks as frames arrive: call push(frame) instead of propagate()")
        self._consolidate_prompts()
        if not self._state.cond:
            raise SessionError("nothing to track yet: add a prompt with add_prompt() first")
        num_frames = len(self._frames)
        start = min(self._state.cond) if start_frame_idx is None else _whole(start_frame_idx, "start_frame_idx")
        if not 0 <= start < num_frames:
            raise InputError(f"start_frame_idx {start} is outside the video (0..{num_frames - 1})")
        max_frames = num_frames if max_frames is None else _whole(max_frames, "max_frames")
        if max_frames < 0:
            raise InputError(f"max_frames must be 0 or more (frames tracked after the first); got {max_frames}")
        if reverse:
            end = max(start - max_frames, 0)
            order = range(start, end - 1, -1) if start > 0 else range(0)
        else:
            end = min(start + max_frames, num_frames - 1)
            order = range(start, end + 1)
        for frame_idx in order:
            yield self._result(frame_idx, self._track_or_reuse(frame_idx, reverse))

    def push(self, frame: np.ndarray) -> FrameResult:
        """Streaming: take the next frame, track every prompted object on it and return its result.

        Before any prompt there is nothing to track and the result holds no objects; prompt the frame
        just pushed with add_prompt(), and later frames are tracked from it.
        """
        if not self.streaming:
            raise SessionError("push() is for streaming sessions (tracker.start() without frames)")
        frame_idx = self._num_pushed
        h, w = self._check_frame(frame, frame_idx)
        if frame_idx == 0:
            self.height, self.width = h, w
        self._consolidate_prompts()  # prompts were on the previous frame, which is still held
        self._frames = [frame]  # only the newest frame is kept
        self._num_pushed += 1
        if not self._state.cond:
            return self._result(frame_idx, None)
        result = self._result(frame_idx, self._track_or_reuse(frame_idx, False))
        self._forget_unreachable(frame_idx)
        return result

    def stats(self) -> dict[str, int]:
        """What the session holds: frames with retained outputs and the bytes of all retained state."""
        state = self._state.nbytes
        if self._features is not None:
            state += sum(a.nbytes for a in self._features[1].values())
        if self.streaming:
            state += sum(np.asarray(f).nbytes for f in self._frames)
        frames = len(self._state.cond) + len(self._state.non_cond)
        return {"frames_retained": frames, "state_bytes": int(state), "objects": len(self._state.obj_ids)}

    # ----------------------------------------------------------------------------------- frames, inputs

    def _check_frame(self, frame: object, frame_idx: int) -> tuple[int, int]:
        arr = np.asarray(frame)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
            raise InputError(
                f"frame {frame_idx} must be an H×W×3 uint8 RGB array; got shape {arr.shape}, dtype {arr.dtype}"
            )
        if self.height and (arr.shape[0], arr.shape[1]) != (self.height, self.width):
            raise InputError(
                f"frame {frame_idx} is {arr.shape[0]}×{arr.shape[1]} but the video is {self.height}×{self.width}; "
                "all frames of a session must have one size"
            )
        return arr.shape[0], arr.shape[1]

    def _frame(self, frame_idx: int) -> np.ndarray:
        if self.streaming:
            assert frame_idx == self._num_pushed - 1, "a streaming session holds only its newest frame"
            return np.asarray(self._frames[-1])
        frame = np.asarray(self._frames[frame_idx])
        self._check_frame(frame, frame_idx)
        return frame

    def _check_prompt_frame(self, frame_idx: int) -> None:
        if self.streaming:
            if self._num_pushed == 0 or frame_idx != self._num_pushed - 1:
                raise InputError(
                    f"a streaming session can prompt only the frame just pushed (index {self._num_pushed - 1}); "
                    f"got frame_idx {frame_idx}"
                )
        elif not isinstance(frame_idx, (int, np.integer)) or not 0 <= frame_idx < len(self._frames):
            raise InputError(f"frame_idx {frame_idx!r} is outside the video (0..{len(self._frames) - 1})")

    def _object_index(self, obj_id: object) -> int:
        known = self._state.object_index(obj_id)
        if known is not None:
            return known
        if self._state.tracking_started:
            raise SessionError(
                f"unknown object id {obj_id!r}: objects must all be prompted before tracking starts "
                f"(known ids: {self.obj_ids}); start a new session to add objects"
            )
        return self._state.add_object(obj_id)

    def _image_features(self, frame_idx: int) -> dict[str, np.ndarray]:
        """The image encoder's outputs for a frame; the most recent frame's are cached (prompts on it
        and then tracking it reuse them), as the original caches them."""
        if self._features is not None and self._features[0] == frame_idx:
            return self._features[1]
        image = preprocess_frame(self._frame(frame_idx), self.image_size)
        feats = self.backend.run("image_encoder", {"image": image})
        self._features = (frame_idx, feats)
        return feats

    # ------------------------------------------------------------------------------------ stage calls

    def _decode(
        self,
        feats: dict[str, np.ndarray],
        image_embed: np.ndarray,
        coords: np.ndarray | None = None,
        codes: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = False,
        no_memory: bool = False,
        object_absent: bool = False,
    ) -> dict[str, np.ndarray]:
        b = image_embed.shape[0]
        n_points = 0 if codes is None else len(codes)
        slots = self.backend.capacities.get("P") or max(n_points, 1)
        if n_points > slots:
            raise InputError(f"this export takes at most {slots} points (box corners count as two); got {n_points}")
        point_coords = np.zeros((b, slots, 2), np.float32)
        point_labels = np.full((b, slots), -1.0, np.float32)
        if n_points:
            point_coords[:, :n_points] = coords
            point_labels[:, :n_points] = codes
        low = self.low_res_size
        flag = lambda v: np.full((b, 1), float(v), np.float32)  # noqa: E731
        return self.backend.run(
            "mask_decoder",
            {
                "image_embed": image_embed,
                "high_res_0": feats["high_res_0"],
                "high_res_1": feats["high_res_1"],
                "point_coords": point_coords,
                "point_labels": point_labels,
                "mask_input": np.zeros((b, 1, low, low), np.float32) if mask_input is None else mask_input,
                "use_mask_input": flag(mask_input is not None),
                "multimask": flag(multimask),
                "no_memory": flag(no_memory),
                "object_absent": flag(object_absent),
            },
        )

    def _use_multimask(self, is_init: bool, n_points: int) -> bool:
        cfg = self.cfg
        return bool(
            cfg["multimask_output_in_sam"]
            and (is_init or cfg["multimask_output_for_tracking"])
            and cfg["multimask_min_pt_num"] <= n_points <= cfg["multimask_max_pt_num"]
        )

    def _decode_points(
        self,
        frame_idx: int,
        obj: int,
        feats: dict,
        coords: np.ndarray,
        codes: np.ndarray,
        kind: Kind,
        reverse: bool,
    ) -> ObjectOutput:
        is_init = kind == "cond"
        previous = self._state.latest_output(frame_idx, obj, kind)
        mask_input = None
        if previous is not None:
            mask_input = np.clip(previous.low_res_masks, -MASK_LOGIT_CLAMP, MASK_LOGIT_CLAMP)
        if is_init:
            image_embed = feats["vision_feats"]
        else:
            image_embed = self._condition(frame_idx, feats, slice(obj, obj + 1), reverse)
        out = self._decode(
            feats,
            image_embed,
            coords,
            codes,
            mask_input,
            multimask=self._use_multimask(is_init, len(codes)),
            no_memory=is_init,
        )
        return ObjectOutput(out["low_res_masks"], out["obj_ptr"], out["object_score_logits"])

    def _decode_mask_prompt(self, feats: dict, binary: np.ndarray) -> ObjectOutput:
        """A mask prompt is taken as the output itself (logits ±10); the decoder only makes its pointer."""
        s = self.image_size
        if binary.shape != (s, s):
            binary = (resize_bilinear_antialias(binary, s, s) >= 0.5).astype(np.float32)
        present = bool(binary.any())
        high_res = binary * np.float32(MASK_PROMPT_SCALE) + np.float32(MASK_PROMPT_BIAS)
        low = self.low_res_size
        low_res = resize_bilinear_antialias(high_res, low, low)[None, None].astype(np.float32)
        mask_input = self.backend.run("mask_prompt", {"mask": binary[None, None]})["mask_input"]
        out = self._decode(feats, feats["vision_feats"], mask_input=mask_input, object_absent=not present)
        score = np.float32(MASK_PROMPT_SCALE * present + MASK_PROMPT_BIAS)
        return ObjectOutput(low_res, out["obj_ptr"], np.full((1, 1), score, np.float32))

    def _condition(self, frame_idx: int, feats: dict, objs: slice, reverse: bool) -> np.ndarray:
        """Memory attention for the objects `objs` on `frame_idx`, from the slots the original would read."""
        cfg, caps = self.cfg, self.backend.capacities
        bank = self._state
        sel = select_memories(
            frame_idx,
            bank.cond.keys(),
            bank.non_cond,
            num_maskmem=cfg["num_maskmem"],
            max_obj_ptrs=cfg["max_obj_ptrs_in_encoder"],
            max_cond=caps.get("K"),
            num_frames=self.num_frames,
            reverse=reverse,
        )
        any_mem = next(iter(bank.cond.values())).mem_bits[objs]
        b, t_tokens, m = any_mem.shape

        k = caps.get("K") or len(sel.cond)
        cond_mem = np.zeros((b, k, t_tokens, m), np.float32)
        cond_valid = np.zeros((b, k), np.float32)
        for slot, t in enumerate(sel.cond):
            cond_mem[:, slot] = from_bfloat16_bits(bank.cond[t].mem_bits[objs])
            cond_valid[:, slot] = 1.0

        r = cfg["num_maskmem"] - 1
        recent_mem = np.zeros((b, r, t_tokens, m), np.float32)
        recent_valid = np.zeros((b, r), np.float32)
        for slot, entry in enumerate(sel.recent):
            if entry is not None:
                recent_mem[:, slot] = from_bfloat16_bits(bank.memory(*entry).mem_bits[objs])
                recent_valid[:, slot] = 1.0

        n = caps.get("N") or max(len(sel.ptrs), 1)
        if len(sel.ptrs) > n:
            raise SessionError(f"this export holds {n} object pointers but {len(sel.ptrs)} are needed")
        c = cfg["hidden_dim"]
        obj_ptrs = np.zeros((b, n, c), np.float32)
        ptr_valid = np.zeros((b, n), np.float32)
        for slot, entry in enumerate(sel.ptrs):
            obj_ptrs[:, slot] = bank.memory(*entry).obj_ptr[objs]
            ptr_valid[:, slot] = 1.0

        out = self.backend.run(
            "memory_attention",
            {
                "vision_feats": feats["vision_feats"],
                "cond_mem": cond_mem,
                "cond_valid": cond_valid,
                "recent_mem": recent_mem,
                "recent_valid": recent_valid,
                "obj_ptrs": obj_ptrs,
                "ptr_valid": ptr_valid,
            },
        )
        return out["pix_feat_with_mem"]

    def _encode_memory(self, feats: dict, low_res_masks: np.ndarray, is_prompted: bool) -> np.ndarray:
        b = low_res_masks.shape[0]
        out = self.backend.run(
            "memory_encoder",
            {
                "vision_feats": feats["vision_feats"],
                "low_res_masks": low_res_masks,
                "is_prompted": np.full((b, 1), float(is_prompted), np.float32),
            },
        )
        return to_bfloat16_bits(out["mem_feats"])

    # --------------------------------------------------------------------------------- bank bookkeeping

    def _no_object_pointer(self, feats: dict) -> np.ndarray:
        """The pointer of an object with no output on a prompted frame: the original decodes an empty
        mask for it, which yields exactly the learned no-object pointer."""
        if self._no_obj_ptr is None:
            self._no_obj_ptr = self._decode(feats, feats["vision_feats"][:1], object_absent=True)["obj_ptr"]
        return self._no_obj_ptr

    def _consolidate_prompts(self) -> None:
        """Turn pending prompt outputs into bank entries, all objects batched, encoding their memories
        (the original's propagate_in_video_preflight). Tracking starts once a prompted frame exists;
        from then on no new object can join the session."""
        for kind in ("non_cond", "cond"):
            for frame_idx in self._state.pending_frames(kind):
                self._state.store_prompted(kind, frame_idx, self._consolidate_frame(frame_idx, kind))
        self._state.finish_consolidation()

    def _consolidate_frame(self, frame_idx: int, kind: Kind) -> FrameMemory:
        n = len(self._state.obj_ids)
        c = self.cfg["hidden_dim"]
        low = self.low_res_size
        feats = self._image_features(frame_idx)
        low_res = np.full((n, 1, low, low), NO_OBJ_SCORE, np.float32)
        obj_ptr = np.full((n, c), NO_OBJ_SCORE, np.float32)
        scores = np.full((n, 1), 10.0, np.float32)  # the original's default for objects without output
        for i in range(n):
            out = self._state.latest_output(frame_idx, i, kind)
            if out is None:
                obj_ptr[i] = self._no_object_pointer(feats)[0]
                continue
            low_res[i], obj_ptr[i], scores[i] = out.low_res_masks[0], out.obj_ptr[0], out.object_score_logits[0]
        mem = self._encode_memory(feats, low_res, is_prompted=True)
        return FrameMemory(low_res, obj_ptr, scores, mem)

    def _track_or_reuse(self, frame_idx: int, reverse: bool) -> FrameMemory:
        memory = self._state.reusable(frame_idx)
        if memory is None:
            memory = self._track(frame_idx, reverse)
            self._state.store_tracked(frame_idx, memory)
        self._state.mark_tracked(frame_idx, reverse)
        return memory

    def _track(self, frame_idx: int, reverse: bool) -> FrameMemory:
        """One tracked frame for all objects: memory attention, decoder, memory encoder."""
        feats = self._image_features(frame_idx)
        image_embed = self._condition(frame_idx, feats, slice(None), reverse)
        out = self._decode(feats, image_embed, multimask=self._use_multimask(False, 0))
        mem = self._encode_memory(feats, out["low_res_masks"], is_prompted=False)
        return FrameMemory(out["low_res_masks"], out["obj_ptr"], out["object_score_logits"], mem)

    def _forget_unreachable(self, frame_idx: int) -> None:
        """Streaming: drop what no later frame can read (conditioning frames: all of them, or the K
        closest for a fixed-capacity export), so state stays constant however long the stream."""
        cfg = self.cfg
        self._state.forget_unreachable(
            frame_idx, cfg["num_maskmem"] - 1, cfg["max_obj_ptrs_in_encoder"] - 1, self.backend.capacities.get("K")
        )

    # ---------------------------------------------------------------------------------------- results

    def _result(self, frame_idx: int, memory: FrameMemory | None) -> FrameResult:
        if memory is None:
            empty = np.zeros((0, self.height, self.width), np.float32)
            return FrameResult(frame_idx, [], empty, np.zeros((0,), np.float32))
        masks = resize_bilinear(memory.low_res_masks[:, 0], self.height, self.width)
        return FrameResult(frame_idx, self.obj_ids, masks, memory.object_score_logits[:, 0].copy())

    def _prompt_frame_result(self, frame_idx: int, kind: Kind) -> FrameResult:
        """All objects on a frame just prompted; objects with no output there get NO_OBJ_SCORE."""
        n = len(self._state.obj_ids)
        masks = np.full((n, self.height, self.width), NO_OBJ_SCORE, np.float32)
        scores = np.full((n,), NO_OBJ_SCORE, np.float32)
        for i in range(n):
            out = self._state.latest_output(frame_idx, i, kind)
            if out is not None:
                masks[i] = resize_bilinear(out.low_res_masks[0, 0], self.height, self.width)
                scores[i] = out.object_score_logits[0, 0]
        return FrameResult(frame_idx, self.obj_ids, masks, scores)
