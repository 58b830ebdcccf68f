import CoreGraphics
import EdgeTAMKit
import Foundation

/// What the track screen shows, and the calls it makes into EdgeTAMKit's session. Session calls run on one
/// serial queue off the main thread (Core ML compiles and predicts there); results come back to the main actor.
@MainActor
final class TrackingModel: ObservableObject {
    enum ClickKind: String, CaseIterable, Identifiable {
        case positive = "Add"
        case negative = "Remove"
        case box = "Box"
        var id: String { rawValue }
    }

    /// One object's prompt on one frame, in frame pixels (what the session is given).
    struct Prompt {
        var points: [Point] = []
        var labels: [Int] = []
        var box: Box?
    }

    @Published private(set) var frames: VideoFrames?
    @Published var frameIndex = 0
    @Published private(set) var overlays: [Int: CGImage] = [:]
    @Published private(set) var objects: [Int] = [1]
    @Published var selectedObject = 1
    @Published var clickKind = ClickKind.positive
    @Published private(set) var prompts: [Int: [Int: Prompt]] = [:]  // frame → object → prompt
    @Published private(set) var latencyMs: [Int: Double] = [:]  // frame → ms to track it
    @Published private(set) var status = "Pick or record a video."
    @Published private(set) var busy = false

    private let export: URL
    private let worker = DispatchQueue(label: "edgetam.session", qos: .userInitiated)
    private var session: Session?

    init(export: URL) {
        self.export = export
    }

    func open(_ url: URL) async {
        busy = true
        status = "Decoding \(url.lastPathComponent)…"
        defer { busy = false }
        do {
            let video = try await VideoFrames.load(url)
            let export = self.export
            let session = try await onWorker {
                let runner = try CoreMLStageRunner(folder: export, computeUnits: .all)
                let tracker = try Tracker(manifest: Manifest.load(from: export), format: "coreml", runner: runner)
                return try tracker.start(frames: video)
            }
            (self.frames, self.session, frameIndex) = (video, session, 0)
            (overlays, prompts, latencyMs, objects, selectedObject) = ([:], [:], [:], [1], 1)
            status = "\(video.count) frames. Tap the object to track (\(ClickKind.box.rawValue): drag a box)."
        } catch {
            status = "\(error)"
        }
    }

    func addObject() {
        let next = (objects.max() ?? 0) + 1
        objects.append(next)
        selectedObject = next
    }

    /// A tap at `point` (frame pixels) with the current click kind.
    func tap(_ point: Point) {
        var prompt = prompts[frameIndex]?[selectedObject] ?? Prompt()
        prompt.points.append(point)
        prompt.labels.append(clickKind == .negative ? 0 : 1)
        send(prompt)
    }

    /// A dragged box from `start` to `end` (frame pixels).
    func drag(from start: Point, to end: Point) {
        var prompt = prompts[frameIndex]?[selectedObject] ?? Prompt()
        prompt.box = Box(
            x0: min(start.x, end.x), y0: min(start.y, end.y), x1: max(start.x, end.x), y1: max(start.y, end.y))
        send(prompt)
    }

    private func send(_ prompt: Prompt) {
        guard let session, !busy else { return }
        let (frame, object) = (frameIndex, selectedObject)
        busy = true
        Task {
            defer { busy = false }
            do {
                let start = Date()
                let result = try await onWorker {
                    try session.addPrompt(
                        frameIndex: frame, objectID: object, points: prompt.points.isEmpty ? nil : prompt.points,
                        labels: prompt.points.isEmpty ? nil : prompt.labels, box: prompt.box)
                }
                prompts[frame, default: [:]][object] = prompt
                show(result, ms: Date().timeIntervalSince(start) * 1e3)
                status = "Object \(object) prompted on frame \(frame). Add more objects, or Track."
            } catch {
                status = "\(error)"
            }
        }
    }

    /// Tracks every object from the current frame to the end, showing each frame as it is done.
    func track() {
        guard let session, !busy else { return }
        let start = frameIndex
        busy = true
        status = "Tracking…"
        Task {
            defer { busy = false }
            do {
                let run = try await onWorker { try session.propagation(from: start) }
                while true {
                    let clock = Date()
                    guard let result = try await onWorker({ try run.next() }) else { break }
                    show(result, ms: Date().timeIntervalSince(clock) * 1e3)
                    frameIndex = result.frameIndex
                }
                let tracked = latencyMs.values.sorted()
                let median = tracked.isEmpty ? 0 : tracked[tracked.count / 2]
                status = String(format: "Tracked %d frames, median %.0f ms a frame.", tracked.count, median)
            } catch {
                status = "\(error)"
            }
        }
    }

    private func show(_ result: FrameResult, ms: Double) {
        overlays[result.frameIndex] = MaskOverlay.image(result)
        latencyMs[result.frameIndex] = ms
    }

    /// Runs `body` on the session's queue and returns its result on the caller's actor.
    private func onWorker<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            worker.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
