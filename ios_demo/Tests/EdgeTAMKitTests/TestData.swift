import Foundation
import Testing

/// Where the Python-generated test data lives: `$EDGETAM_TEST_DATA`, or `../build/swift-test-data`
/// relative to the package. Missing data is a failure (never a skip): run `make swift-test-data`.
enum TestData {
    static var root: URL {
        if let path = ProcessInfo.processInfo.environment["EDGETAM_TEST_DATA"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        // This file is ios_demo/Tests/EdgeTAMKitTests/TestData.swift.
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return package.deletingLastPathComponent().appendingPathComponent("build/swift-test-data")
    }

    /// A folder of the test data (`vectors` or `traces`); throws a failure telling how to make it.
    static func folder(_ name: String) throws -> URL {
        let url = root.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw MissingTestData(path: url.path)
        }
        return url
    }

    /// A file in `vectors/`.
    static func vector(_ name: String) throws -> URL {
        let url = try folder("vectors").appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingTestData(path: url.path) }
        return url
    }
}

struct MissingTestData: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "test data \(path) is missing: run `make swift-test-data` from the repository root "
            + "(or set EDGETAM_TEST_DATA to a folder holding vectors/ and traces/)"
    }
}
