import AVFoundation
import CoreGraphics
import EdgeTAMKit

/// A video's frames, decoded once when the video is opened (scaled to at most `maxSide` pixels and at most
/// `maxFrames` frames, so a phone keeps them in memory), handed to the session as 8-bit BGRA on request.
final class VideoFrames: FrameSource {
    let images: [CGImage]
    let framesPerSecond: Double

    var count: Int { images.count }

    private init(images: [CGImage], framesPerSecond: Double) {
        self.images = images
        self.framesPerSecond = framesPerSecond
    }

    static func load(_ url: URL, maxSide: CGFloat = 640, maxFrames: Int = 150) async throws -> VideoFrames {
        let asset = AVURLAsset(url: url)
        guard let track = try await asset.loadTracks(withMediaType: .video).first else {
            throw EdgeTAMError.input("\(url.lastPathComponent) has no video track; pick a video")
        }
        let fps = Double(try await track.load(.nominalFrameRate))
        let seconds = try await asset.load(.duration).seconds
        let rate = fps > 0 ? fps : 30
        let total = min(maxFrames, max(1, Int(seconds * rate)))
        let generator = AVAssetImageGenerator(asset: asset)
        generator.appliesPreferredTrackTransform = true
        generator.maximumSize = CGSize(width: maxSide, height: maxSide)
        generator.requestedTimeToleranceBefore = .zero
        generator.requestedTimeToleranceAfter = .zero
        var images: [CGImage] = []
        for index in 0..<total {
            let time = CMTime(seconds: Double(index) / rate, preferredTimescale: 600)
            images.append(try await generator.image(at: time).image)
        }
        // One size for the whole session: the generator may round odd frames differently.
        let width = images[0].width
        let height = images[0].height
        return VideoFrames(images: images.filter { $0.width == width && $0.height == height }, framesPerSecond: rate)
    }

    func frame(at index: Int) throws -> PixelBuffer {
        let image = images[index]
        let width = image.width
        let height = image.height
        var bytes = [UInt8](repeating: 0, count: width * height * 4)
        let drawn = bytes.withUnsafeMutableBytes { raw -> Bool in
            guard
                let context = CGContext(
                    data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8, bytesPerRow: width * 4,
                    space: CGColorSpaceCreateDeviceRGB(),
                    bitmapInfo: CGImageAlphaInfo.noneSkipFirst.rawValue | CGBitmapInfo.byteOrder32Little.rawValue)
            else { return false }
            context.draw(image, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else { throw EdgeTAMError.input("frame \(index) could not be converted to 8-bit BGRA") }
        return try PixelBuffer(width: width, height: height, format: .bgra8, bytes: bytes)
    }
}
