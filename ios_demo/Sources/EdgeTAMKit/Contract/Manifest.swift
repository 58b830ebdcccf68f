import Foundation

/// An export folder's `manifest.json` (written by `edgetam_export/export.py`, read by `runtime/manifest.py`):
/// the model config, every stage's contract per format, the bank capacities and the preprocessing.
/// The runtime needs this file and the model files, nothing else.
public struct Manifest: Sendable, Equatable, Codable {
    /// The manifest format version this package reads (`runtime/manifest.py` FORMAT_VERSION).
    public static let supportedFormatVersion = 1
    /// The file name inside an export folder.
    public static let fileName = "manifest.json"

    public var formatVersion: Int
    public var toolkit: Toolkit
    public var model: Model
    /// Where the weights came from (a checkpoint and its sha256, or "synthetic" with a seed); informational.
    public var weights: [String: JSONValue]
    public var preprocessing: Preprocessing
    public var memoryBank: MemoryBank
    /// Export sections by format name ("onnx", "coreml").
    public var formats: [String: FormatSection]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", toolkit, model, weights, preprocessing
        case memoryBank = "memory_bank", formats
    }

    /// The tool and version that wrote the export.
    public struct Toolkit: Sendable, Equatable, Codable {
        public var name: String
        public var version: String
    }

    /// The model family and its config.
    public struct Model: Sendable, Equatable, Codable {
        public var family: String
        public var config: ModelConfig
    }

    /// How frames become the image encoder's input.
    public struct Preprocessing: Sendable, Equatable, Codable {
        public var imageSize: Int
        public var resize: String
        public var scale: Double
        public var mean: [Double]
        public var std: [Double]

        enum CodingKeys: String, CodingKey {
            case imageSize = "image_size", resize, scale, mean, std
        }
    }

    /// What the memory bank stores per frame and object.
    public struct MemoryBank: Sendable, Equatable, Codable {
        public var recentSlots: Int
        public var memoryTokens: Int
        public var memoryDim: Int
        public var memoryDtype: String
        public var maxObjectPointers: Int

        enum CodingKeys: String, CodingKey {
            case recentSlots = "recent_slots", memoryTokens = "memory_tokens", memoryDim = "memory_dim"
            case memoryDtype = "memory_dtype", maxObjectPointers = "max_object_pointers"
        }
    }

    /// One format's export: precision, capacities and its stages' files and contracts.
    public struct FormatSection: Sendable, Equatable, Codable {
        public var precision: String
        public var capacities: Capacities
        public var stages: [String: StageEntry]
        /// ONNX only: the opset.
        public var opset: Int?
        /// ONNX only: "onnxruntime" (fused attention) or "standard".
        public var attention: String?
        /// Core ML only: the deployment target (e.g. "iOS17").
        public var deploymentTarget: String?
        /// Core ML only: the image encoder variant with an RGB image input.
        public var imageEncoderRGB: FileEntry?

        enum CodingKeys: String, CodingKey {
            case precision, capacities, stages, opset, attention
            case deploymentTarget = "deployment_target", imageEncoderRGB = "image_encoder_rgb"
        }

        /// The entry of one stage; throws naming the stage when the export lacks it.
        public func stage(_ name: StageName) throws -> StageEntry {
            guard let entry = stages[name.rawValue] else {
                throw EdgeTAMError.contract(
                    stage: name, tensor: "-", problem: "the export lists no such stage (has: "
                        + stages.keys.sorted().joined(separator: ", ") + ")")
            }
            return entry
        }
    }

    /// A file of the export with its size.
    public struct FileEntry: Sendable, Equatable, Codable {
        public var file: String
        public var bytes: Int
    }

    /// One stage's file and contract.
    public struct StageEntry: Sendable, Equatable, Codable {
        public var file: String
        public var bytes: Int
        public var sha256: String
        public var exportSeconds: Double?
        public var inputs: [TensorSpec]
        public var outputs: [TensorSpec]
        /// Core ML only: the object batch the package accepts ({"min": 1, "max": n}).
        public var batch: BatchRange?

        enum CodingKeys: String, CodingKey {
            case file, bytes, sha256, exportSeconds = "export_seconds", inputs, outputs, batch
        }

        /// The stage's contract (inputs and outputs).
        public var contract: StageContract { StageContract(inputs: inputs, outputs: outputs) }
    }

    /// The object batch range of a Core ML package.
    public struct BatchRange: Sendable, Equatable, Codable {
        public var min: Int
        public var max: Int
        /// Why the batch is fixed to one object, when it is.
        public var fixedBecause: String?

        enum CodingKeys: String, CodingKey {
            case min, max, fixedBecause = "fixed_because"
        }
    }

    /// Reads and checks `manifest.json` of an export folder (the folder, or the file itself).
    public static func load(from url: URL) throws -> Manifest {
        let file = url.lastPathComponent == fileName ? url : url.appendingPathComponent(fileName)
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw EdgeTAMError.manifest(path: file.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: file.path)
    }

    /// Decodes a manifest from JSON, checking its format version first.
    public static func decode(_ data: Data, path: String = fileName) throws -> Manifest {
        struct Version: Decodable {
            let formatVersion: Int?
            enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
        }
        let version: Version
        do {
            version = try JSONDecoder().decode(Version.self, from: data)
        } catch {
            throw EdgeTAMError.manifest(path: path, problem: "is not a JSON object (\(error))")
        }
        guard version.formatVersion == supportedFormatVersion else {
            throw EdgeTAMError.formatVersion(path: path, found: version.formatVersion, supported: supportedFormatVersion)
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw EdgeTAMError.manifest(path: path, problem: "does not match the manifest schema (\(error))")
        }
    }

    /// A format's section; throws naming the formats present when the export lacks it.
    public func format(_ name: String) throws -> FormatSection {
        guard let section = formats[name] else {
            let have = formats.keys.sorted().joined(separator: ", ")
            throw EdgeTAMError.manifest(
                path: Manifest.fileName,
                problem: "holds no \(name) export (formats present: \(have.isEmpty ? "none" : have)); "
                    + "export with --format \(name)")
        }
        return section
    }
}
