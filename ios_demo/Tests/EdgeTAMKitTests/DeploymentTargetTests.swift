import Foundation
import Testing

@testable import EdgeTAMKit

@Suite struct DeploymentTargetTests {
    private func os(_ major: Int, _ minor: Int = 0) -> OperatingSystemVersion {
        OperatingSystemVersion(majorVersion: major, minorVersion: minor, patchVersion: 0)
    }

    @Test func anExportWithoutATargetIsIOS17() throws {
        let target = try DeploymentTarget(recorded: nil)
        #expect(target.name == "iOS17")
        try target.check(platform: .iOS, version: os(17))
        try target.check(platform: .macOS, version: os(14, 2))
    }

    @Test func iOS18PackagesAreRefusedOnOlderSystemsWithTheReason() throws {
        let target = try DeploymentTarget(recorded: "iOS18")
        try target.check(platform: .iOS, version: os(18, 1))
        try target.check(platform: .macOS, version: os(15))
        #expect(throws: EdgeTAMError.deploymentTarget(required: "iOS18 (iOS 18 or newer)", running: "iOS 17.5")) {
            try target.check(platform: .iOS, version: os(17, 5))
        }
        do {
            try target.check(platform: .macOS, version: os(14, 6))
            Issue.record("macOS 14 loaded an iOS 18 export")
        } catch let error as EdgeTAMError {
            #expect(error.description.contains("macOS 15 or newer"))
            #expect(error.description.contains("--coreml-target iOS17"))
        }
    }

    @Test func anUnknownTargetNamesTheKnownOnes() {
        #expect(throws: EdgeTAMError.self) { try DeploymentTarget(recorded: "iOS99") }
        do {
            _ = try DeploymentTarget(recorded: "iOS99")
        } catch {
            #expect("\(error)".contains("iOS17, iOS18"))
        }
    }
}
