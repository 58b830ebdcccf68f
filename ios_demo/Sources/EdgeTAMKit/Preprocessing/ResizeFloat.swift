/// Float32 resizes of mask planes, bit-exact with PyTorch's CPU `F.interpolate` (as `runtime/resize.py`).
///
/// Both take a tensor `[..., H, W]` and return `[..., height, width]`; leading axes are batch axes. Every
/// product and sum is rounded to Float in the numpy code's order (Swift does not fuse `a * b + c`).

/// Bilinear resize without antialiasing, `align_corners=False` (half-pixel centres, source coordinates
/// clamped at both ends): how mask logits go from the decoder's size to the frame's size.
public func resizeBilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let (planes, inH, inW) = planeLayout(x)
    let h = linearTaps(inSize: inH, outSize: height)
    let w = linearTaps(inSize: inW, outSize: width)
    var out = [Float](repeating: 0, count: planes * height * width)
    var rows = [Float](repeating: 0, count: inH * width)
    x.scalars.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            rows.withUnsafeMutableBufferPointer { rows in
                for p in 0..<planes {
                    let plane = p * inH * inW
                    // Width first within every source row, then blend two rows: the same float operations
                    // as ATen's per-pixel loop.
                    for r in 0..<inH {
                        for j in 0..<width {
                            let a = src[plane + r * inW + w.index0[j]] * w.lambda0[j]
                            let b = src[plane + r * inW + w.index1[j]] * w.lambda1[j]
                            rows[r * width + j] = a + b
                        }
                    }
                    let base = p * height * width
                    for i in 0..<height {
                        let top = h.index0[i] * width
                        let bottom = h.index1[i] * width
                        for j in 0..<width {
                            let a = rows[top + j] * h.lambda0[i]
                            let b = rows[bottom + j] * h.lambda1[i]
                            dst[base + i * width + j] = a + b
                        }
                    }
                }
            }
        }
    }
    return Tensor(shape: Array(x.shape.dropLast(2)) + [height, width], scalars: out)
}

/// Antialiased bilinear resize, `align_corners=False`: a triangle filter widened by the downscale factor
/// (plain bilinear when upscaling), width pass first, then height, taps summed in order. How mask prompts
/// are resized.
public func resizeBilinearAntialias(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let (planes, inH, inW) = planeLayout(x)
    var data = x.scalars
    if width != inW {
        data = filterRows(data, count: planes * inH, inLength: inW, taps: antialiasTaps(inSize: inW, outSize: width, as: Float.self))
    }
    if height != inH {
        data = filterColumns(
            data, planes: planes, rowLength: width, inHeight: inH,
            taps: antialiasTaps(inSize: inH, outSize: height, as: Float.self))
    }
    return Tensor(shape: Array(x.shape.dropLast(2)) + [height, width], scalars: data)
}

/// (number of H×W planes, H, W) of a `[..., H, W]` tensor.
private func planeLayout(_ x: Tensor) -> (Int, Int, Int) {
    precondition(x.shape.count >= 2, "resize expects a tensor [..., H, W], got shape \(x.shape)")
    let inH = x.shape[x.shape.count - 2]
    let inW = x.shape[x.shape.count - 1]
    precondition(inH > 0 && inW > 0, "cannot resize an empty tensor of shape \(x.shape)")
    return (x.count / (inH * inW), inH, inW)
}

/// `out[r][j] = Σ_k x[r][index[j][k]] * weight[j][k]`, accumulated tap by tap.
private func filterRows(_ x: [Float], count: Int, inLength: Int, taps: Taps<Float>) -> [Float] {
    let n = taps.outputs
    var out = [Float](repeating: 0, count: count * n)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for r in 0..<count {
                for j in 0..<n {
                    var acc = src[r * inLength + taps.index[j * taps.taps]] * taps.weight[j * taps.taps]
                    for k in 1..<max(taps.taps, 1) {
                        acc += src[r * inLength + taps.index[j * taps.taps + k]] * taps.weight[j * taps.taps + k]
                    }
                    dst[r * n + j] = acc
                }
            }
        }
    }
    return out
}

/// `out[p][i][:] = Σ_k x[p][index[i][k]][:] * weight[i][k]`, accumulated tap by tap.
private func filterColumns(_ x: [Float], planes: Int, rowLength: Int, inHeight: Int, taps: Taps<Float>) -> [Float] {
    let n = taps.outputs
    var out = [Float](repeating: 0, count: planes * n * rowLength)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for p in 0..<planes {
                for i in 0..<n {
                    let row = (p * n + i) * rowLength
                    for k in 0..<taps.taps {
                        let w = taps.weight[i * taps.taps + k]
                        let from = (p * inHeight + taps.index[i * taps.taps + k]) * rowLength
                        for j in 0..<rowLength {
                            let term = src[from + j] * w
                            dst[row + j] = k == 0 ? term : dst[row + j] + term
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Two-tap bilinear tables of one axis (`_linear_taps`), in Float with ATen's double intermediates.
private struct LinearTaps {
    var index0: [Int]
    var index1: [Int]
    var lambda0: [Float]
    var lambda1: [Float]
}

private func linearTaps(inSize: Int, outSize: Int) -> LinearTaps {
    if inSize == outSize {
        let i = Array(0..<outSize)
        return LinearTaps(
            index0: i, index1: i, lambda0: [Float](repeating: 1, count: outSize),
            lambda1: [Float](repeating: 0, count: outSize))
    }
    let scale = Float(inSize) / Float(outSize)
    var taps = LinearTaps(index0: [], index1: [], lambda0: [], lambda1: [])
    for i in 0..<outSize {
        let src = max(Float(Double(scale) * (Double(i) + 0.5) - 0.5), 0)
        let i0 = min(Int(src.rounded(.down)), inSize - 1)
        let l1 = min(max(src - Float(i0), 0), 1)
        taps.index0.append(i0)
        taps.index1.append(i0 + (i0 < inSize - 1 ? 1 : 0))
        taps.lambda1.append(l1)
        taps.lambda0.append(1 - l1)
    }
    return taps
}
