import SwiftUI

/// The EdgeTAM demo: track objects through a video on device, and benchmark the Core ML stages.
/// A shell over EdgeTAMKit: every computation is the package's (tested there); this target only draws.
@main
struct EdgeTAMDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}

struct ContentView: View {
    var body: some View {
        if let export = ExportFolder.bundled {
            TabView {
                TrackView(export: export)
                    .tabItem { Label("Track", systemImage: "scope") }
                BenchmarkView(export: export)
                    .tabItem { Label("Benchmark", systemImage: "speedometer") }
            }
        } else {
            ContentUnavailableView(
                "No export folder",
                systemImage: "shippingbox",
                description: Text(ExportFolder.missingHelp))
        }
    }
}
