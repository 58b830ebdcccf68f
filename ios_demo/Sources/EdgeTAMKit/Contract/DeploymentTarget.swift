import Foundation

/// The Core ML deployment target an export was built for (the manifest's `deployment_target`), mirroring
/// Python's `edgetam_export.coreml_targets.DeploymentTarget`. Packages built for a newer OS do not load on an
/// older one; checking first turns Core ML's load failure into a message that says which OS the export needs.
public struct DeploymentTarget: Sendable, Equatable, CustomStringConvertible {
    /// The platforms Core ML runs on that this package checks.
    public enum Platform: Sendable, Equatable {
        case iOS, macOS
    }

    /// As recorded, e.g. "iOS17".
    public let name: String
    /// The first iOS major version that loads the export.
    public let iOSMajor: Int
    /// The first macOS major version that loads the export (the macOS of the same Core ML release).
    public let macOSMajor: Int

    /// The targets `edgetam-export --coreml-target` writes.
    public static let known: [DeploymentTarget] = [
        DeploymentTarget(name: "iOS17", iOSMajor: 17, macOSMajor: 14),
        DeploymentTarget(name: "iOS18", iOSMajor: 18, macOSMajor: 15),
    ]

    /// The target of a Core ML export section; a section that records none was written for iOS 17.
    public init(recorded: String?) throws {
        let name = recorded ?? "iOS17"
        guard let target = Self.known.first(where: { $0.name == name }) else {
            throw EdgeTAMError.deploymentTarget(
                required: name, running: "an EdgeTAMKit that knows "
                    + Self.known.map(\.name).joined(separator: ", "))
        }
        self = target
    }

    private init(name: String, iOSMajor: Int, macOSMajor: Int) {
        self.name = name
        self.iOSMajor = iOSMajor
        self.macOSMajor = macOSMajor
    }

    public var description: String { name }

    /// Throws when `version` of `platform` is older than the target.
    public func check(platform: Platform, version: OperatingSystemVersion) throws {
        let (needed, label) = platform == .iOS ? (iOSMajor, "iOS") : (macOSMajor, "macOS")
        guard version.majorVersion >= needed else {
            throw EdgeTAMError.deploymentTarget(
                required: "\(name) (\(label) \(needed) or newer)",
                running: "\(label) \(version.majorVersion).\(version.minorVersion)")
        }
    }
}
