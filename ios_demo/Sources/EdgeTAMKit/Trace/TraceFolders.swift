import Foundation

/// Finding trace folders: a folder holding trace.json is one; otherwise its subfolders that hold one, in
/// name order (so a folder of recorded traces can be given whole).
public enum TraceFolders {
    /// The trace folders at or directly under `folder`.
    public static func find(in folder: URL) -> [URL] {
        let manager = FileManager.default
        if manager.fileExists(atPath: folder.appendingPathComponent(Trace.jsonName).path) {
            return [folder]
        }
        let children = (try? manager.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        return children
            .filter { manager.fileExists(atPath: $0.appendingPathComponent(Trace.jsonName).path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
