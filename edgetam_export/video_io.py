"""Reading videos and frame folders as lazy frame sequences, and writing the overlay video.

`open_video(path)` gives a `Sequence` of H×W×3 uint8 RGB frames that the runtime's `Session` can index:

- a video file (mp4, mov, webm, mkv, … anything this PyAV build decodes): decoded once when opened, to
  count the frames, check they share one size and catch corrupt files before any tracking; frames are
  then kept in memory when they fit `memory_budget`, else decoded again on demand (seeking to the nearest
  keyframe before the frame asked for, with a small cache, so forward and reverse access both stay cheap).
  A display rotation (phone videos) is applied, so frames are upright as a player shows them.
- a folder of JPEG/PNG images: sorted by name (digit runs compared as numbers, so frame2 < frame10), each
  image read only when indexed (the last few are cached); sizes are checked from the image headers when
  opened. EXIF orientation is applied.

`OverlayWriter` encodes RGB frames to an mp4 with the best encoder this PyAV build has (H.264 from
libx264 or libopenh264, else MPEG-4 part 2), pixel format yuv420p. Encoders that need even dimensions
(libx264 refuses odd ones with yuv420p) get odd sizes padded by one pixel on the right and/or bottom,
repeating the edge pixels; `padded` says so. MPEG-4 part 2 takes odd sizes as they are.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np

from runtime.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FOLDER_FPS = Fraction(30)  # frame rate assumed for a folder of images
DEFAULT_MEMORY_BUDGET = 512 * 2**20  # decoded video frames kept in memory up to this many bytes
CACHE_FRAMES = 32  # lazily decoded video frames cached (bounded by the memory budget too)


class VideoFrames(Sequence):
    """Common interface of the two sources: a `Sequence` of frames plus what describes them."""

    path: Path
    kind: str  # "video" or "frames"
    height: int
    width: int
    fps: Fraction

    def describe(self) -> dict:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "frames": len(self),
            "height": self.height,
            "width": self.width,
            "fps": float(self.fps),
        }

    def close(self) -> None:
        """Release open files (a no-op for folders)."""

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | Path, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> VideoFrames:
    """A video file or a folder of JPEG/PNG frames as a sequence of H×W×3 uint8 RGB frames."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if not path.exists():
        raise InputError(f"{path}: no such video file or frame folder")
    return VideoFile(path, memory_budget)


# ------------------------------------------------------------------------------------------ folders


def _natural_key(name: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def _oriented_size(image) -> tuple[int, int]:
    """(width, height) after the EXIF orientation is applied (orientations 5–8 swap the sides)."""
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: Pillow ignores it when transposing too
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class FrameFolder(VideoFrames):
    """The JPEG/PNG images of a folder, sorted by name, each read when indexed."""

    kind = "frames"

    def __init__(self, folder: Path, cache_frames: int = 4) -> None:
        from PIL import Image, UnidentifiedImageError

        self.path = folder
        self.fps = FOLDER_FPS
        names = sorted(
            (p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
            key=_natural_key,
        )
        if not names:
            raise InputError(f"{folder}: the folder holds no JPEG or PNG images (*.jpg, *.jpeg, *.png)")
        self.files = [folder / name for name in names]
        size = None
        for file in self.files:
            try:
                with Image.open(file) as image:
                    this = _oriented_size(image)
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
                raise InputError(f"{file}: cannot read it as an image ({exc})") from exc
            if size is None:
                size, first = this, file
            elif this != size:
                raise InputError(
                    f"{folder}: frames differ in size: {first.name} is {size[0]}×{size[1]} but {file.name} is "
                    f"{this[0]}×{this[1]} (width×height); all frames of a video must have one size"
                )
        self.width, self.height = size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = cache_frames

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = _check_index(index, len(self))
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frame = self._load(self.files[index])
        self._cache[index] = frame
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return frame

    def _load(self, file: Path) -> np.ndarray:
        from PIL import Image, ImageOps

        try:
            with Image.open(file) as image:
                frame = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (OSError, Image.DecompressionBombError) as exc:  # corrupt image data (the header was fine)
            raise InputError(f"{file}: cannot decode the image ({exc})") from exc
        if frame.shape[:2] != (self.height, self.width):
            raise InputError(
                f"{file}: is {frame.shape[1]}×{frame.shape[0]} but the other frames are {self.width}×{self.height}"
            )
        return frame


def _check_index(index: object, length: int) -> int:
    if not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame indices are integers, not {type(index).__name__}")
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"frame {index} is outside 0..{length - 1}")
    return index


# --------------------------------------------------------------------------------------- video files


class VideoFile(VideoFrames):
    """A video file's frames; decoded once when opened (checks), then served from memory or on demand."""

    kind = "video"

    def __init__(self, path: Path, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        import av

        self.path = path
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty, not a video")
        try:
            self._container = av.open(str(path))
        except av.error.EOFError as exc:  # e.g. a Matroska header and nothing after it
            raise InputError(f"{path}: the video has no frames (the file ends before its first frame)") from exc
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"{path}: cannot read it as a video ({_reason(exc)})") from exc
        try:
            self._open(memory_budget)
        except BaseException:
            self._container.close()
            raise

    def _open(self, memory_budget: int) -> None:
        import av

        if not self._container.streams:  # FFmpeg drops an mp4 track without samples
            raise InputError(f"{self.path}: the video has no frames (the file holds no stream with data)")
        if not self._container.streams.video:
            kinds = ", ".join(sorted({s.type for s in self._container.streams}))
            raise InputError(f"{self.path}: the file holds no video stream (only {kinds})")
        self._stream = stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = Fraction(rate) if rate and rate > 0 else FOLDER_FPS
        self._rotation = 0
        pts: list[int | None] = []
        kept: list[np.ndarray] | None = []
        size = None
        try:
            for frame in self._container.decode(stream):
                if size is None:
                    self._rotation = _quarter_turns(frame)
                    size = (frame.width, frame.height)
                elif (frame.width, frame.height) != size:
                    raise InputError(
                        f"{self.path}: frames differ in size: frame 0 is {size[0]}×{size[1]} but frame {len(pts)} "
                        f"is {frame.width}×{frame.height} (width×height); this tool tracks videos of one size"
                    )
                pts.append(frame.pts)
                if kept is not None:
                    kept.append(self._to_rgb(frame))
                    if len(kept) * kept[0].nbytes > memory_budget:
                        kept = None  # too long to hold: decode again when indexed
        except av.FFmpegError as exc:
            raise InputError(
                f"{self.path}: the video is corrupt or truncated (decoding failed after {len(pts)} frames: "
                f"{_reason(exc)})"
            ) from exc
        if not pts:
            raise InputError(f"{self.path}: the video has no frames")
        width, height = size if self._rotation % 2 == 0 else size[::-1]
        self.width, self.height = width, height
        seekable = all(p is not None for p in pts) and len(set(pts)) == len(pts)
        if kept is None and not seekable:  # no timestamps to seek by: hold the frames after all
            kept = [self._to_rgb(f) for f in self._decode_from_start()]
        self._frames = kept
        self._pts = pts
        self._index_of = {p: i for i, p in enumerate(pts)}
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = max(2, min(CACHE_FRAMES, memory_budget // (width * height * 3)))
        self._decoder = None  # an iterator of decoded frames and the index of the frame it yields next
        self._next_index = 0
        self.decoded = 0  # frames decoded on demand (for tests of the lazy path)

    @property
    def in_memory(self) -> bool:
        return self._frames is not None

    def close(self) -> None:
        self._decoder = None
        self._container.close()

    def __len__(self) -> int:
        return len(self._pts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = _check_index(index, len(self))
        if self._frames is not None:
            return self._frames[index]
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        return self._decode_to(index)

    # ------------------------------------------------------------------------------------ decoding

    def _to_rgb(self, frame) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(np.rot90(rgb, self._rotation)) if self._rotation else rgb

    def _decode_from_start(self):
        self._container.seek(0)
        return self._container.decode(self._stream)

    def _decode_to(self, index: int) -> np.ndarray:
        """Decode up to frame `index`: onwards from where the decoder is when that is close, else from the
        keyframe before it (a seek). Frames decoded on the way are cached."""
        import av

        near = self._decoder is not None and self._next_index <= index < self._next_index + self._cache_frames
        if not near:
            self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
            self._decoder = self._container.decode(self._stream)
            self._next_index = None  # known once the first keyframe after the seek arrives
        try:
            for frame in self._decoder:
                i = self._index_of.get(frame.pts)
                if i is None or (self._next_index is None and not frame.key_frame):
                    continue  # leading frames before the first keyframe after a seek may be damaged
                self._next_index = i + 1
                if i > index:
                    break  # the seek went past the frame: fall back below
                self.decoded += 1
                if i > index - self._cache_frames:
                    rgb = self._to_rgb(frame)
                    self._cache[i] = rgb
                    while len(self._cache) > self._cache_frames:
                        self._cache.popitem(last=False)
                    if i == index:
                        return rgb
        except av.FFmpegError as exc:
            raise InputError(f"{self.path}: decoding frame {index} failed ({_reason(exc)})") from exc
        # The keyframe seek did not land before the frame (or the stream ended): decode from the start.
        self._decoder = iter(self._decode_from_start())
        for i, frame in enumerate(self._decoder):
            if i == index:
                self._next_index = i + 1
                rgb = self._to_rgb(frame)
                self._cache[i] = rgb
                return rgb
        raise InputError(f"{self.path}: frame {index} could not be decoded again")


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that show the frame upright (its display matrix rotation)."""
    degrees = getattr(frame, "rotation", 0) or 0
    return round(degrees / 90) % 4 if degrees % 90 == 0 else 0


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# ----------------------------------------------------------------------------------------- writing

# Preferred first: H.264 (plays everywhere), then MPEG-4 part 2 (in every FFmpeg build).
ENCODERS = ("libx264", "libopenh264", "h264", "mpeg4")


@cache
def _opens(codec: str, width: int, height: int) -> bool:
    """Whether this PyAV build can open `codec` for yuv420p frames of this size (hardware encoders listed
    in `av.codecs_available` may still lack their device)."""
    import av

    if codec not in av.codecs_available:
        return False
    try:
        context = av.CodecContext.create(codec, "w")
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, 30)
        context.open()  # freed when garbage-collected; CodecContext has no close()
    except Exception:  # any failure means "not usable here"
        return False
    return True


def choose_encoder() -> str:
    """The first usable encoder of ENCODERS."""
    for codec in ENCODERS:
        if _opens(codec, 64, 64):
            return codec
    raise InputError(f"this PyAV build has none of the video encoders {', '.join(ENCODERS)}; reinstall av")


def needs_even_size(codec: str) -> bool:
    return not _opens(codec, 63, 63)


class OverlayWriter:
    """Encodes H×W×3 uint8 RGB frames to an mp4 at `fps` (see the module docstring for codec and padding)."""

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction | float, codec: str | None = None):
        import av

        self.path = Path(path)
        self.codec = codec or choose_encoder()
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        even = needs_even_size(self.codec)
        self.pad = (height % 2 if even else 0, width % 2 if even else 0)
        self.width, self.height = width + self.pad[1], height + self.pad[0]
        self.frames = 0
        self._container = av.open(str(self.path), "w")
        try:
            stream = self._container.add_stream(self.codec, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            stream.codec_context.time_base = 1 / self.fps
            if self.codec in ("libx264", "h264"):
                stream.options = {"crf": "18", "preset": "veryfast"}
            elif self.codec == "mpeg4":
                stream.bit_rate = max(2_000_000, int(self.width * self.height * float(self.fps) * 0.25))
            self._stream = stream
        except BaseException:
            self._container.close()
            raise
        self.codec_name = stream.codec_context.name

    @property
    def padded(self) -> bool:
        return any(self.pad)

    def write(self, rgb: np.ndarray) -> None:
        import av

        if any(self.pad):
            rgb = np.pad(rgb, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def describe(self) -> dict:
        return {
            "codec": self.codec_name,
            "pix_fmt": "yuv420p",
            "fps": float(self.fps),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "padded": self.padded,
        }

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
