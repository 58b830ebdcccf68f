import Foundation

/// A loaded model: a stage runner with the config and capacities of its export. Start sessions on it.
///
/// ```swift
/// let tracker = try Tracker(manifest: Manifest.load(from: exportFolder), format: "coreml", runner: runner)
/// let session = try tracker.start(frames: video)          // any FrameSource
/// _ = try session.addPrompt(frameIndex: 0, objectID: 1, points: [Point(x: 210, y: 350)], labels: [1])
/// for result in try session.propagate() { show(result.masks) }
/// ```
public final class Tracker {
    /// The model's config.
    public let config: ModelConfig
    /// Slot capacities of the export (nil: the driver sizes slots to need).
    public let capacities: Capacities
    /// What runs the stages.
    public let runner: StageRunner

    /// A tracker over `runner`, for a model `config` and the export's `capacities`.
    public init(config: ModelConfig, capacities: Capacities, runner: StageRunner) {
        self.config = config
        self.capacities = capacities
        self.runner = runner
    }

    /// A tracker for an export: config from the manifest, capacities from its `format` section.
    public convenience init(manifest: Manifest, format: String, runner: StageRunner) throws {
        self.init(config: manifest.model.config, capacities: try manifest.format(format).capacities, runner: runner)
    }

    /// An offline session over a video's frames (prompts on any frame, propagation both ways).
    public func start(frames: FrameSource) throws -> Session {
        try Session(tracker: self, frames: frames)
    }

    /// A streaming session: push frames one at a time; its state stays constant however long the stream.
    public func startStreaming() -> Session {
        Session(streamingOn: self)
    }
}
