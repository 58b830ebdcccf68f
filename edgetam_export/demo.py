"""`make demo`: the toolkit's main job on an embedded default.

Exports EdgeTAM to ONNX (cached in build/demo/export; reused while the weights are the same), writes a
generated clip as an mp4, and runs `edgetam-export track` on it with a default click, through the ONNX
runtime. Uses synthetic weights unless EDGETAM_CHECKPOINT names a real checkpoint (edgetam.pt, an HF
folder or .safetensors) — and says so, because synthetic masks show that the pipeline runs, not what
EdgeTAM sees.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .clip import synthetic_clip

OUT = Path("build/demo")
FRAMES, HEIGHT, WIDTH, FPS = 12, 360, 640, 12
CLICK = (0.30 * WIDTH, 0.35 * HEIGHT)  # on the red disc of the first frame
SYNTHETIC_SEED = 1


def write_clip(path: Path) -> None:
    from .video_io import OverlayWriter

    writer = OverlayWriter(path, WIDTH, HEIGHT, FPS)
    for frame in synthetic_clip(FRAMES, HEIGHT, WIDTH):
        writer.write(frame)
    writer.close()


def cached_export(export_dir: Path, checkpoint: str | None) -> None:
    """Export once; reuse while the manifest names the same weights and toolkit version."""
    from reference_model import load_model, synthetic_model

    from . import __version__
    from .export import ExportOptions, export_all

    manifest_path = export_dir / "manifest.json"
    wanted = {"kind": "synthetic", "seed": SYNTHETIC_SEED} if checkpoint is None else {"path": str(checkpoint)}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        weights = manifest.get("weights", {})
        same_graphs = manifest.get("toolkit", {}).get("version") == __version__  # graphs change between versions
        if same_graphs and all(weights.get(k) == v for k, v in wanted.items()):
            print(f"export: reusing {export_dir}")
            return
    print(f"export: writing ONNX stages to {export_dir} (about a minute, once)")
    model, info = load_model(checkpoint) if checkpoint else synthetic_model(SYNTHETIC_SEED)
    start = time.perf_counter()
    export_all(
        model,
        info,
        export_dir,
        ExportOptions(formats=("onnx",)),
        lambda stage, fmt, s: print(f"  {fmt} {stage:<17} {s:5.1f} s"),
    )
    print(f"export: done in {time.perf_counter() - start:.0f} s")


def main() -> None:
    from runtime import Tracker

    from .track import Prompt, track

    checkpoint = os.environ.get("EDGETAM_CHECKPOINT")
    if checkpoint:
        print(f"weights: {checkpoint}")
    else:
        print("weights: SYNTHETIC (seeded random, order-one activations). The masks show the pipeline runs,")
        print("         not what EdgeTAM sees. Download edgetam.pt from the EdgeTAM release yourself, then:")
        print("         EDGETAM_CHECKPOINT=/path/to/edgetam.pt make demo")
    OUT.mkdir(parents=True, exist_ok=True)
    export_dir = OUT / ("export" if checkpoint is None else "export_checkpoint")
    cached_export(export_dir, checkpoint)
    clip = OUT / "clip.mp4"
    write_clip(clip)
    print(f"video: {clip} ({FRAMES} frames, {WIDTH}×{HEIGHT}); click at ({CLICK[0]:.0f}, {CLICK[1]:.0f}) on frame 0")
    tracker = Tracker.load(export_dir, backend="onnx")
    result = track(
        tracker,
        clip,
        [Prompt(0, 1, points=[list(CLICK)], labels=[1])],
        OUT / "track",
        model={"source": str(export_dir), "backend": "onnx"},
    )
    for row in result.summary["frames"]:
        for obj in row["objects"]:
            print(f"frame {row['frame']:2d}: object {obj['obj']} area {obj['area']:6d} px  score {obj['score']:+.2f}")
    timing = result.summary["timings"]
    print(f"tracked {FRAMES} frames: {timing['frames_per_second']:.2f} frames/s (ONNX runtime, this CPU)")
    print(f"overlay video: {result.overlay}")
    print(f"masks: {result.masks}   summary: {result.out / 'summary.json'}")


if __name__ == "__main__":
    main()
