import Foundation

/// The benchmark's generated clip, drawn like the Python benchmark's (`edgetam_export/clip.py`): a smooth
/// coloured background and three moving discs (the second leaves on the right and comes back), with one
/// click per object on the first frame: the three discs, then background spots. No file, no download.
public enum SyntheticClip {
    static let colours: [[UInt8]] = [[230, 40, 40], [40, 220, 60], [50, 60, 240]]
    /// At most this many objects get a click.
    public static let maxObjects = 6

    /// Normalized disc centres on frame `t` of `count`.
    static func discCentres(_ t: Int, _ count: Int) -> [(x: Double, y: Double)] {
        let phase = Double(t) / Double(max(count - 1, 1))
        return [(0.30 + 0.3 * phase, 0.35), (0.65, 0.30 + 0.35 * phase), (0.5 + 0.9 * sin(Double.pi * phase), 0.7)]
    }

    /// `count` RGB frames of `height` × `width`.
    public static func frames(count: Int, height: Int = 360, width: Int = 640) throws -> [PixelBuffer] {
        var base = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            for x in 0..<width {
                let (fx, fy) = (Double(x), Double(y))
                let i = (y * width + x) * 3
                base[i] = UInt8(96 + 60 * sin(fx / Double(width) * 3 + 0.5))
                base[i + 1] = UInt8(110 + 50 * cos(fy / Double(height) * 4))
                base[i + 2] = UInt8(128 + 40 * sin((fx + fy) / Double(width + height) * 5))
            }
        }
        let radius = 0.12 * Double(min(height, width))
        return try (0..<count).map { t in
            var bytes = base
            for (centre, colour) in zip(discCentres(t, count), colours) {
                let (cx, cy) = (centre.x * Double(width), centre.y * Double(height))
                let rows = clamped(Int(cy - radius), Int(cy + radius) + 1, to: height)
                let cols = clamped(Int(cx - radius), Int(cx + radius) + 1, to: width)  // a disc may leave the frame
                for y in rows {
                    for x in cols
                    where (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                        < radius * radius
                    {
                        let i = (y * width + x) * 3
                        bytes.replaceSubrange(i..<(i + 3), with: colour)
                    }
                }
            }
            return try PixelBuffer(width: width, height: height, format: .rgb8, bytes: bytes)
        }
    }

    static func clamped(_ lower: Int, _ upper: Int, to size: Int) -> Range<Int> {
        let lo = min(max(lower, 0), size)
        return lo..<max(lo, min(upper, size))
    }

    /// One click per object (frame pixels) on the first frame of a clip of `count` frames.
    public static func clicks(objects: Int, count: Int, height: Int = 360, width: Int = 640) -> [Point] {
        let (w, h) = (Double(width), Double(height))
        var spots = discCentres(0, count).map { Point(x: $0.x * w, y: $0.y * h) }
        spots += [Point(x: 0.12 * w, y: 0.88 * h), Point(x: 0.88 * w, y: 0.12 * h), Point(x: 0.5 * w, y: 0.12 * h)]
        return Array(spots.prefix(objects))
    }
}
