/// The memory-bank capacities an export fixes (Core ML) or keeps dynamic (ONNX: nil).
///
/// K: conditioning-memory slots, N: object-pointer slots, P: point slots per object; B: the object batch
/// range a graph accepts (nil: any). A nil capacity means the driver sizes the slots to what it needs.
public struct Capacities: Sendable, Equatable, Codable {
    public var batch: ClosedRange<Int>?
    public var condSlots: Int?
    public var pointerSlots: Int?
    public var pointSlots: Int?

    public init(batch: ClosedRange<Int>? = nil, condSlots: Int? = nil, pointerSlots: Int? = nil, pointSlots: Int? = nil) {
        self.batch = batch
        self.condSlots = condSlots
        self.pointerSlots = pointerSlots
        self.pointSlots = pointSlots
    }

    enum CodingKeys: String, CodingKey {
        case batch = "B", condSlots = "K", pointerSlots = "N", pointSlots = "P"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let range = try c.decodeIfPresent([Int].self, forKey: .batch) {
            guard range.count == 2, range[0] >= 1, range[0] <= range[1] else {
                throw DecodingError.dataCorruptedError(
                    forKey: .batch, in: c, debugDescription: "B must be null or [min, max] with 1 ≤ min ≤ max")
            }
            batch = range[0]...range[1]
        }
        condSlots = try c.decodeIfPresent(Int.self, forKey: .condSlots)
        pointerSlots = try c.decodeIfPresent(Int.self, forKey: .pointerSlots)
        pointSlots = try c.decodeIfPresent(Int.self, forKey: .pointSlots)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let batch {
            try c.encode([batch.lowerBound, batch.upperBound], forKey: .batch)
        } else {
            try c.encodeNil(forKey: .batch)
        }
        try c.encode(condSlots, forKey: .condSlots)
        try c.encode(pointerSlots, forKey: .pointerSlots)
        try c.encode(pointSlots, forKey: .pointSlots)
    }

    /// The capacity symbols that are fixed, as contract sizes ("K", "N", "P").
    public var contractSizes: [String: Int] {
        var sizes: [String: Int] = [:]
        sizes["K"] = condSlots
        sizes["N"] = pointerSlots
        sizes["P"] = pointSlots
        return sizes
    }
}
