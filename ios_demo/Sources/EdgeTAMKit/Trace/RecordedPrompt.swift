/// A recorded `add_prompt`'s JSON arguments as the typed Swift arguments. Python takes any array-like and
/// validates it; arguments no typed call can express (a point with three coordinates, a five-number box)
/// throw the `InputError` Python raises for them.
struct RecordedPrompt {
    var points: [Point]?
    var labels: [Int]?
    var box: Box?

    init(points: JSONValue, labels: JSONValue, box: JSONValue) throws {
        self.points = try RecordedPrompt.points(points)
        self.labels = RecordedPrompt.labels(labels)
        self.box = try RecordedPrompt.box(box)
    }

    private static func points(_ value: JSONValue) throws -> [Point]? {
        switch value {
        case .null:
            return nil
        case let .array(items):
            if items.count == 2, let x = number(items[0]), let y = number(items[1]) {
                return [Point(x: x, y: y)]  // one point given as [x, y]
            }
            return try items.map { item in
                guard case let .array(pair) = item, pair.count == 2, let x = number(pair[0]), let y = number(pair[1])
                else {
                    throw EdgeTAMError.input("points must be a non-empty list of [x, y]; got \(item)")
                }
                return Point(x: x, y: y)
            }
        default:
            throw EdgeTAMError.input("points must be numbers as [[x, y], ...]; got \(value)")
        }
    }

    /// Labels flattened, as Python reshapes them; a non-integer label becomes −1, which is rejected as
    /// Python rejects any label other than 0 and 1.
    private static func labels(_ value: JSONValue) -> [Int]? {
        if case .null = value { return nil }
        return flatten(value).map { v in
            guard let v, v.rounded() == v, abs(v) < 1e9 else { return -1 }
            return Int(v)
        }
    }

    private static func box(_ value: JSONValue) throws -> Box? {
        if case .null = value { return nil }
        let numbers = flatten(value)
        guard numbers.count == 4, numbers.allSatisfy({ $0 != nil }) else {
            throw EdgeTAMError.input("box must be [x0, y0, x1, y1]; got \(value)")
        }
        return Box(x0: numbers[0]!, y0: numbers[1]!, x1: numbers[2]!, y1: numbers[3]!)
    }

    private static func number(_ value: JSONValue) -> Double? {
        if case let .number(v) = value { return v }
        return nil
    }

    /// Every leaf of nested arrays, nil where a leaf is not a number.
    private static func flatten(_ value: JSONValue) -> [Double?] {
        if case let .array(items) = value {
            return items.flatMap(flatten)
        }
        return [number(value)]
    }
}
