import CoreGraphics
import EdgeTAMKit
import Foundation

/// A frame result's masks as one translucent image, each object in its own colour.
enum MaskOverlay {
    static let colours: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    ]

    static func colour(of objectID: Int) -> (UInt8, UInt8, UInt8) {
        colours[((objectID - 1) % colours.count + colours.count) % colours.count]
    }

    static func image(_ result: FrameResult) -> CGImage? {
        let (height, width) = result.size
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        for objectID in result.objIDs {
            guard let mask = result.mask(of: objectID) else { continue }
            let (r, g, b) = colour(of: objectID)
            for (i, inside) in mask.enumerated() where inside {  // premultiplied by alpha 1/2
                rgba[4 * i] = r / 2
                rgba[4 * i + 1] = g / 2
                rgba[4 * i + 2] = b / 2
                rgba[4 * i + 3] = 128
            }
        }
        guard let provider = CGDataProvider(data: Data(rgba) as CFData) else { return nil }
        return CGImage(
            width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: width * 4,
            space: CGColorSpaceCreateDeviceRGB(),
            bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.premultipliedLast.rawValue),
            provider: provider, decode: nil, shouldInterpolate: false, intent: .defaultIntent)
    }
}
