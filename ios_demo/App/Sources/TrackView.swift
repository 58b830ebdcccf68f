import EdgeTAMKit
import PhotosUI
import SwiftUI
import UIKit

/// Pick or record a video, click objects, track them: masks drawn over the frames, latency per frame.
struct TrackView: View {
    @StateObject private var model: TrackingModel
    @State private var pickedItem: PhotosPickerItem?
    @State private var recording = false

    init(export: URL) {
        _model = StateObject(wrappedValue: TrackingModel(export: export))
    }

    var body: some View {
        NavigationStack {
            VStack(spacing: 12) {
                if let frames = model.frames {
                    FrameCanvas(model: model, image: frames.images[model.frameIndex])
                    controls(frames)
                } else {
                    ContentUnavailableView("No video", systemImage: "film", description: Text(model.status))
                }
                Text(model.status).font(.footnote).foregroundStyle(.secondary).lineLimit(3)
            }
            .padding()
            .navigationTitle("EdgeTAM")
            .toolbar {
                ToolbarItemGroup(placement: .topBarTrailing) {
                    PhotosPicker(selection: $pickedItem, matching: .videos) {
                        Label("Pick a video", systemImage: "photo.on.rectangle")
                    }
                    Button {
                        recording = true
                    } label: {
                        Label("Record", systemImage: "video")
                    }
                    .disabled(!UIImagePickerController.isSourceTypeAvailable(.camera))
                }
            }
            .onChange(of: pickedItem) { _, item in
                guard let item else { return }
                Task {
                    if let movie = try? await item.loadTransferable(type: PickedMovie.self) {
                        await model.open(movie.url)
                    }
                }
            }
            .sheet(isPresented: $recording) {
                CameraRecorder { url in
                    recording = false
                    if let url { Task { await model.open(url) } }
                }
                .ignoresSafeArea()
            }
            .disabled(model.busy)
        }
    }

    @ViewBuilder
    private func controls(_ frames: VideoFrames) -> some View {
        HStack {
            Picker("Object", selection: $model.selectedObject) {
                ForEach(model.objects, id: \.self) { id in
                    Text("Object \(id)").tag(id)
                }
            }
            Button("New object", systemImage: "plus") { model.addObject() }
        }
        Picker("Click", selection: $model.clickKind) {
            ForEach(TrackingModel.ClickKind.allCases) { kind in Text(kind.rawValue).tag(kind) }
        }
        .pickerStyle(.segmented)
        HStack {
            Slider(
                value: Binding(get: { Double(model.frameIndex) }, set: { model.frameIndex = Int($0.rounded()) }),
                in: 0...Double(max(frames.count - 1, 1)), step: 1)
            Text("\(model.frameIndex + 1)/\(frames.count)").monospacedDigit()
        }
        HStack {
            if let ms = model.latencyMs[model.frameIndex] {
                Text(String(format: "%.0f ms", ms)).monospacedDigit()
            }
            Spacer()
            Button("Track", systemImage: "play.fill") { model.track() }
                .buttonStyle(.borderedProminent)
                .disabled(model.prompts.isEmpty)
        }
    }
}

/// The current frame with its masks; taps and drags become prompts in frame pixels.
private struct FrameCanvas: View {
    @ObservedObject var model: TrackingModel
    let image: CGImage

    var body: some View {
        GeometryReader { geometry in
            let fitted = fittedRect(in: geometry.size)
            ZStack(alignment: .topLeading) {
                Image(decorative: image, scale: 1).resizable().frame(width: fitted.width, height: fitted.height)
                if let overlay = model.overlays[model.frameIndex] {
                    Image(decorative: overlay, scale: 1).resizable().frame(width: fitted.width, height: fitted.height)
                }
                ForEach(Array(clicks.enumerated()), id: \.offset) { _, click in
                    Circle()
                        .fill(click.label == 1 ? Color.green : Color.red)
                        .frame(width: 12, height: 12)
                        .position(
                            x: click.point.x * fitted.width / CGFloat(image.width),
                            y: click.point.y * fitted.height / CGFloat(image.height))
                }
            }
            .frame(width: fitted.width, height: fitted.height)
            .offset(x: fitted.minX, y: fitted.minY)
            .contentShape(Rectangle())
            .gesture(
                DragGesture(minimumDistance: 0)  // a tap is a drag of length 0
                    .onEnded { value in
                        let end = framePoint(value.location, fitted)
                        if model.clickKind == .box {
                            model.drag(from: framePoint(value.startLocation, fitted), to: end)
                        } else {
                            model.tap(end)
                        }
                    })
        }
        .aspectRatio(CGFloat(image.width) / CGFloat(image.height), contentMode: .fit)
    }

    private var clicks: [(point: CGPoint, label: Int)] {
        let prompts = model.prompts[model.frameIndex]?.values.map { $0 } ?? []
        return prompts.flatMap { prompt in
            zip(prompt.points, prompt.labels).map { (point: CGPoint(x: $0.x, y: $0.y), label: $1) }
        }
    }

    private func fittedRect(in size: CGSize) -> CGRect {
        let scale = min(size.width / CGFloat(image.width), size.height / CGFloat(image.height))
        let width = CGFloat(image.width) * scale
        let height = CGFloat(image.height) * scale
        return CGRect(x: (size.width - width) / 2, y: (size.height - height) / 2, width: width, height: height)
    }

    /// A location in the fitted image's coordinates → frame pixels, clamped inside the frame.
    private func framePoint(_ location: CGPoint, _ fitted: CGRect) -> Point {
        let x = location.x / fitted.width * CGFloat(image.width)
        let y = location.y / fitted.height * CGFloat(image.height)
        return Point(
            x: Double(min(max(x, 0), CGFloat(image.width - 1))), y: Double(min(max(y, 0), CGFloat(image.height - 1))))
    }
}
