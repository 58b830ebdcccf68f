import EdgeTAMKit
import Foundation

/// The export folder bundled with the app (App/Resources/export: manifest.json + coreml/*.mlpackage).
enum ExportFolder {
    static var bundled: URL? {
        guard let url = Bundle.main.url(forResource: "export", withExtension: nil),
            FileManager.default.fileExists(atPath: url.appendingPathComponent(Manifest.fileName).path)
        else { return nil }
        return url
    }

    static let missingHelp =
        "Export the model with `edgetam-export export --format coreml --out build/edgetam`, copy the folder "
        + "to ios_demo/App/Resources/export, run `xcodegen generate` again and rebuild (see ios_demo/README.md)."
}
