/// A point in frame pixels (x right, y down).
public struct Point: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A box in frame pixels: top-left (x0, y0) and bottom-right (x1, y1) corners.
public struct Box: Sendable, Equatable, Codable {
    public var x0: Double
    public var y0: Double
    public var x1: Double
    public var y1: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }
}

/// A foreground mask at the frame's size, row-major (`values[y * width + x]`).
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let values: [Bool]

    /// A mask from booleans; `values.count` must be `width * height`.
    public init(width: Int, height: Int, values: [Bool]) throws {
        guard width >= 0, height >= 0, values.count == width * height else {
            throw EdgeTAMError.input(
                "a \(height)×\(width) mask needs \(max(width * height, 0)) values, got \(values.count)")
        }
        self.width = width
        self.height = height
        self.values = values
    }

    /// A mask from bytes (e.g. an 8-bit image): non-zero is foreground.
    public init(width: Int, height: Int, bytes: [UInt8]) throws {
        try self.init(width: width, height: height, values: bytes.map { $0 > 0 })
    }
}

/// Points and labels in model-input pixels, as the mask decoder takes them: box corners first (labels 2
/// and 3), then the points (1 positive, 0 negative).
public struct ModelPoints: Sendable, Equatable {
    /// (x, y) pairs, flat: `coords[2 * i]`, `coords[2 * i + 1]`.
    public var coords: [Float]
    public var labels: [Float]

    /// The number of points (a box counts as two).
    public var count: Int { labels.count }
}
