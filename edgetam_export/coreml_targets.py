"""Core ML deployment targets an export can be built for, and what each one allows.

iOS 17 (the default) runs on every iPhone EdgeTAM is meant for. iOS 18 adds what compression needs to follow
weights whose scale differs from channel to channel (batch norms folded into convolutions): palettization
tables per group of output channels and per-block int4/int8 scales. A package built for iOS 18 does not load
on iOS 17; the manifest and each package record the target, and the Swift runtime refuses an export whose
target is newer than the OS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeploymentTarget:
    """One Core ML deployment target: its name, specification version and the MIL opsets it reads."""

    name: str  # as recorded in manifests and package metadata, e.g. "iOS17"
    spec_version: int  # Core ML model specification version
    opsets: tuple[str, ...]  # MIL function opsets the OS reads
    grouped_tables: bool  # palettization tables per channel group (else one table per tensor)
    ios_major: int  # the first iOS that loads it (EdgeTAMKit's DeploymentTarget checks these)
    macos_major: int  # the first macOS that loads it

    def coremltools(self):
        """The `coremltools.target` value."""
        import coremltools as ct

        return getattr(ct.target, self.name)


TARGETS = {
    "iOS17": DeploymentTarget("iOS17", 8, ("CoreML5", "CoreML6", "CoreML7"), False, 17, 14),
    "iOS18": DeploymentTarget("iOS18", 9, ("CoreML5", "CoreML6", "CoreML7", "CoreML8"), True, 18, 15),
}
DEFAULT_TARGET = "iOS17"


def deployment_target(name: str) -> DeploymentTarget:
    """The target called `name`; an unknown name is an error that lists the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown Core ML deployment target {name!r}; choose one of {', '.join(TARGETS)}") from None
