/// One axis of a contract shape: a number, or a symbol ("B" object batch, "K"/"N"/"P" capacities kept
/// dynamic; config-derived symbols such as "S" or "F" are resolved to numbers in manifests).
public enum Dimension: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .fixed(value)
        } else {
            self = .symbol(try container.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .fixed(value): try container.encode(value)
        case let .symbol(name): try container.encode(name)
        }
    }

    public var description: String {
        switch self {
        case let .fixed(value): String(value)
        case let .symbol(name): name
        }
    }

    /// Whether `size` fits this axis: equal to a fixed size, or anything for a symbol not in `sizes`.
    public func accepts(_ size: Int, sizes: [String: Int] = [:]) -> Bool {
        switch self {
        case let .fixed(value): value == size
        case let .symbol(name): sizes[name].map { $0 == size } ?? true
        }
    }
}
