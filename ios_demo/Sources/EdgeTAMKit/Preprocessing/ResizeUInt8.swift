/// Resizes an 8-bit frame to `height`×`width` RGB bytes (H×W×3), bit-exact with ATen's uint8 antialiased
/// bilinear kernel (`runtime/resize.py` `resize_uint8_antialias_bilinear`, what Hugging Face's processor runs):
/// fixed-point taps per axis, the width pass first (stored as uint8), then the height pass; an axis whose
/// size does not change is skipped.
public func resizeUInt8AntialiasBilinear(_ frame: PixelBuffer, height: Int, width: Int) -> [UInt8] {
    precondition(height >= 1 && width >= 1, "output size must be positive, got \(height)×\(width)")
    let rows = frame.width == width ? frame.rgbBytes : horizontalPass(frame, width: width)
    if frame.height == height {
        return rows
    }
    return verticalPass(rows, inHeight: frame.height, rowLength: width * 3, height: height)
}

/// `(Σ_k pixel_k · w_k + 2^(p−1)) >> p`, clipped to 255 (the weights are non-negative, so never below 0).
@inline(__always)
private func roundFixedPoint(_ acc: Int32, precision: Int) -> UInt8 {
    UInt8(min((acc &+ Int32(1 << (precision - 1))) >> Int32(precision), 255))
}

/// Every row of the frame resized along its width, as packed RGB rows.
private func horizontalPass(_ frame: PixelBuffer, width: Int) -> [UInt8] {
    let (taps, precision) = fixedPointTaps(inSize: frame.width, outSize: width)
    let bpp = frame.format.bytesPerPixel
    let offsets = frame.format.channelOffsets
    var out = [UInt8](repeating: 0, count: frame.height * width * 3)
    frame.bytes.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            taps.index.withUnsafeBufferPointer { index in
                taps.weight.withUnsafeBufferPointer { weight in
                    for y in 0..<frame.height {
                        let row = y * frame.bytesPerRow
                        for j in 0..<width {
                            for c in 0..<3 {
                                var acc: Int32 = 0
                                for k in 0..<taps.taps {
                                    let pixel = Int32(src[row + index[j * taps.taps + k] * bpp + offsets[c]])
                                    acc = acc &+ pixel &* weight[j * taps.taps + k]
                                }
                                dst[(y * width + j) * 3 + c] = roundFixedPoint(acc, precision: precision)
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Packed rows (`rowLength` bytes each) resized along the height.
private func verticalPass(_ rows: [UInt8], inHeight: Int, rowLength: Int, height: Int) -> [UInt8] {
    let (taps, precision) = fixedPointTaps(inSize: inHeight, outSize: height)
    var out = [UInt8](repeating: 0, count: height * rowLength)
    var acc = [Int32](repeating: 0, count: rowLength)
    rows.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            acc.withUnsafeMutableBufferPointer { acc in
                for i in 0..<height {
                    for x in 0..<rowLength { acc[x] = 0 }
                    for k in 0..<taps.taps {
                        let w = taps.weight[i * taps.taps + k]
                        let base = taps.index[i * taps.taps + k] * rowLength
                        for x in 0..<rowLength {
                            acc[x] = acc[x] &+ Int32(src[base + x]) &* w
                        }
                    }
                    for x in 0..<rowLength {
                        dst[i * rowLength + x] = roundFixedPoint(acc[x], precision: precision)
                    }
                }
            }
        }
    }
    return out
}
