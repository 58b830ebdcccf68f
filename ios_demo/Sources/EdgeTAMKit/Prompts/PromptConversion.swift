/// Prompt validation and conversion from frame pixels to model-input pixels, as `runtime/prompts.py` does:
/// same checks in the same order (so the same prompts fail), same float32 arithmetic (`x / W * S`).

/// Points and/or a box on a `width`×`height` frame → model-input points for a model of side `imageSize`.
/// Throws `EdgeTAMError.input` for points without labels (or the reverse), NaN or infinite values, a box with
/// x1 < x0 or y1 < y0, labels other than 0/1, a label count that differs from the point count, an empty
/// point list, coordinates outside the frame, or no prompt at all.
public func pointPrompt(
    points: [Point]?, labels: [Int]?, box: Box?, width: Int, height: Int, imageSize: Int
) throws -> ModelPoints {
    if (points == nil) != (labels == nil) {
        throw EdgeTAMError.input("points and labels go together: give one label (1 positive, 0 negative) per point")
    }
    var xy: [Point] = []
    var codes: [Float] = []
    if let box {
        let values = [box.x0, box.y0, box.x1, box.y1]
        if !values.allSatisfy(\.isFinite) {
            throw EdgeTAMError.input("box contains NaN or infinite values: \(values)")
        }
        if box.x1 < box.x0 || box.y1 < box.y0 {
            throw EdgeTAMError.input(
                "box \(values) has x1 < x0 or y1 < y0; give [x0, y0, x1, y1] with x0 ≤ x1, y0 ≤ y1")
        }
        let corners = [Point(x: box.x0, y: box.y0), Point(x: box.x1, y: box.y1)]
        try checkInside(corners, width: width, height: height, name: "box corners")
        xy += corners
        codes += [2, 3]
    }
    if let points, let labels {
        if !points.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) {
            throw EdgeTAMError.input("points contains NaN or infinite values: \(points.map { [$0.x, $0.y] })")
        }
        if points.isEmpty {
            throw EdgeTAMError.input("points must be a non-empty list of [x, y]; got none")
        }
        if labels.count != points.count {
            throw EdgeTAMError.input("got \(points.count) points but \(labels.count) labels; give one label per point")
        }
        if !labels.allSatisfy({ $0 == 0 || $0 == 1 }) {
            throw EdgeTAMError.input(
                "labels must be 1 (positive) or 0 (negative); got \(labels) "
                    + "(2 and 3 are box corners: pass a box instead)")
        }
        try checkInside(points, width: width, height: height, name: "points")
        xy += points
        codes += labels.map(Float.init)
    }
    if xy.isEmpty {
        throw EdgeTAMError.input("a prompt needs points with labels, a box, or a mask")
    }
    let w = Float(width)
    let h = Float(height)
    let s = Float(imageSize)
    var coords: [Float] = []
    for p in xy {
        coords.append(Float(p.x) / w * s)
        coords.append(Float(p.y) / h * s)
    }
    return ModelPoints(coords: coords, labels: codes)
}

/// A mask prompt → 0/1 Float32 `[height, width]`; throws when the mask is not the frame's size.
public func maskPrompt(_ mask: BinaryMask, width: Int, height: Int) throws -> Tensor {
    guard mask.width == width, mask.height == height else {
        throw EdgeTAMError.input(
            "mask is \(mask.height)×\(mask.width) but the frame is \(height)×\(width); give an H×W mask of the frame")
    }
    return Tensor(shape: [height, width], scalars: mask.values.map { $0 ? 1 : 0 })
}

private func checkInside(_ points: [Point], width: Int, height: Int, name: String) throws {
    let w = Double(width)
    let h = Double(height)
    let outside = points.filter { $0.x < 0 || $0.x > w || $0.y < 0 || $0.y > h }
    if !outside.isEmpty {
        throw EdgeTAMError.input(
            "\(name) \(outside.map { [$0.x, $0.y] }) lie outside the \(width)×\(height) frame; coordinates are "
                + "frame pixels, x in [0, \(width)] and y in [0, \(height)]")
    }
}
