/// The frames of an offline session, fetched when the session needs them (an app can decode lazily; the
/// session keeps no decoded frame beyond the one it is working on).
public protocol FrameSource {
    /// The number of frames.
    var count: Int { get }
    /// Frame `index` (0 ≤ index < count). All frames of a session must have one size.
    func frame(at index: Int) throws -> PixelBuffer
}

/// Frames already in memory.
extension Array: FrameSource where Element == PixelBuffer {
    public func frame(at index: Int) throws -> PixelBuffer {
        self[index]
    }
}
