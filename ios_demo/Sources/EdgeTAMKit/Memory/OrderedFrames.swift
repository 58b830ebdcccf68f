/// Values by frame index in the order frames were first stored, as a Python dict keeps them: storing an
/// existing frame again keeps its place, removing it forgets the place. The conditioning store's order fixes
/// the order of the conditioning slots, so it must be Python's.
public struct OrderedFrames<Value: Sendable>: Sendable {
    public private(set) var frames: [Int] = []
    private var values: [Int: Value] = [:]

    public init() {}

    public var count: Int { frames.count }
    public var isEmpty: Bool { frames.isEmpty }

    public subscript(frame: Int) -> Value? {
        get { values[frame] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: frame) == nil {
                    frames.append(frame)
                }
            } else if values.removeValue(forKey: frame) != nil {
                frames.removeAll { $0 == frame }
            }
        }
    }

    public func contains(_ frame: Int) -> Bool { values[frame] != nil }

    /// The values in frame order.
    public var orderedValues: [Value] { frames.map { values[$0]! } }

    /// Applies `change` to every stored value in place.
    public mutating func updateEach(_ change: (Int, inout Value) -> Void) {
        for frame in frames {
            change(frame, &values[frame]!)
        }
    }
}
