#if canImport(CoreML)
    import CoreML
    import Foundation

    /// Runs an export folder's Core ML stages (`manifest.json` + `coreml/<stage>.mlpackage`): the runner an app
    /// or `edgetam-bench` hands to the session or the benchmark.
    ///
    /// Kept thin on purpose: the contract checks, batch chunking and shape math are plain Swift
    /// (`ContractShapes`, `BatchSplitting`), tested on Linux; this file only converts tensors and calls Core ML.
    /// Models load lazily on a stage's first call (the mask-prompt stage rarely runs), from a compiled
    /// `.mlmodelc` when the folder has one (Xcode compiles packages it bundles) or the compile cache has one,
    /// else by compiling the `.mlpackage` once and caching the result under Caches/EdgeTAMKit. Compiling blocks
    /// the calling thread: call from a background task, never the main thread.
    public final class CoreMLStageRunner: StageRunner {
        /// The Core ML setting every model of this runner uses.
        public let computeUnits: ComputeUnits
        public let folder: URL
        private let section: Manifest.FormatSection
        private var models: [StageName: MLModel] = [:]

        /// A runner over `folder`'s Core ML export (its manifest read here unless given); throws when the
        /// export's deployment target is newer than this OS.
        public init(folder: URL, manifest: Manifest? = nil, computeUnits: ComputeUnits = .all) throws {
            self.folder = folder
            self.computeUnits = computeUnits
            section = try (manifest ?? Manifest.load(from: folder)).format("coreml")
            #if os(macOS)
                let platform = DeploymentTarget.Platform.macOS
            #else
                let platform = DeploymentTarget.Platform.iOS
            #endif
            try DeploymentTarget(recorded: section.deploymentTarget).check(
                platform: platform, version: ProcessInfo.processInfo.operatingSystemVersion)
        }

        /// Loads a stage's model now (from a compiled model or the cache when there is one).
        public func load(_ stage: StageName) throws {
            _ = try model(stage)
        }

        /// The runner as a benchmark target; its load time is a fresh compile plus a load, what a first
        /// launch costs (the cache is refreshed as a side effect).
        public var benchmarkTarget: BenchmarkTarget {
            BenchmarkTarget(runner: self, backend: "coreml", computeUnits: computeUnits) { [unowned self] stage in
                let package = try self.packageURL(stage)
                let compiled = try Self.compile(package, into: self.cacheURL(stage), stage: stage)
                self.models[stage] = try self.loadModel(at: compiled, stage: stage)
            }
        }

        public func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
            let entry = try section.stage(stage)
            let contract = entry.contract
            let batch = try ContractShapes.checkCall(
                inputs, contract: contract, stage: stage, capacities: section.capacities)
            let model = try model(stage)
            let batched = Set(contract.inputs.filter(ContractShapes.isBatched).map(\.name))
            let outputs = try BatchSplitting.run(
                inputs, batched: batched, batch: batch, maxBatch: max(1, entry.batch?.max ?? 1)
            ) { chunk in
                try self.predict(model, stage: stage, inputs: chunk, outputs: contract.outputs.map(\.name))
            }
            try ContractShapes.checkOutputs(
                outputs, contract: contract, stage: stage, batch: batch, capacities: section.capacities)
            return outputs
        }

        // MARK: - Core ML calls

        private func predict(_ model: MLModel, stage: StageName, inputs: [String: Tensor], outputs: [String]) throws
            -> [String: Tensor]
        {
            var features: [String: MLFeatureValue] = [:]
            for (name, tensor) in inputs {
                let array = MLMultiArray(MLShapedArray<Float>(scalars: tensor.scalars, shape: tensor.shape))
                features[name] = MLFeatureValue(multiArray: array)
            }
            let result: MLFeatureProvider
            do {
                result = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: features))
            } catch {
                throw EdgeTAMError.coreMLFailed(
                    stage: stage, problem: "prediction failed: \(error.localizedDescription)")
            }
            var out: [String: Tensor] = [:]
            for name in outputs {
                guard let array = result.featureValue(for: name)?.multiArrayValue else {
                    throw EdgeTAMError.contract(stage: stage, tensor: name, problem: "the model returned no such array")
                }
                // Converting handles any element type (float16 outputs included) and any strides.
                let shaped = MLShapedArray<Float>(converting: array)
                out[name] = Tensor(shape: shaped.shape, scalars: shaped.scalars)
            }
            return out
        }

        private func model(_ stage: StageName) throws -> MLModel {
            if let model = models[stage] { return model }
            let model = try loadModel(at: try compiledURL(stage), stage: stage)
            models[stage] = model
            return model
        }

        private func loadModel(at url: URL, stage: StageName) throws -> MLModel {
            let configuration = MLModelConfiguration()
            configuration.computeUnits = computeUnits.mlComputeUnits
            do {
                return try MLModel(contentsOf: url, configuration: configuration)
            } catch {
                throw EdgeTAMError.coreMLFailed(
                    stage: stage, problem: "cannot load \(url.lastPathComponent): \(error.localizedDescription)")
            }
        }

        // MARK: - files

        /// The stage's file as the manifest lists it; throws naming it when it is missing.
        private func packageURL(_ stage: StageName) throws -> URL {
            let entry = try section.stage(stage)
            let url = folder.appendingPathComponent(entry.file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw EdgeTAMError.manifest(
                    path: folder.path, problem: "lacks \(entry.file), listed in its manifest (copy the whole folder)")
            }
            return url
        }

        /// A compiled model for the stage: the folder's own .mlmodelc, the cache's, or a fresh compile.
        private func compiledURL(_ stage: StageName) throws -> URL {
            let entry = try section.stage(stage)
            let listed = folder.appendingPathComponent(entry.file)
            let sibling = listed.deletingPathExtension().appendingPathExtension("mlmodelc")
            for candidate in [listed, sibling] where candidate.pathExtension == "mlmodelc" {
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            }
            let cached = try cacheURL(stage)
            if FileManager.default.fileExists(atPath: cached.path) { return cached }
            return try Self.compile(try packageURL(stage), into: cached, stage: stage)
        }

        /// Where the compiled stage is cached: keyed by the package's sha256, so a new export never reuses
        /// an old compile.
        private func cacheURL(_ stage: StageName) throws -> URL {
            let entry = try section.stage(stage)
            let caches = try FileManager.default.url(
                for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            return caches.appendingPathComponent("EdgeTAMKit/\(entry.sha256.prefix(16))-\(stage.rawValue).mlmodelc")
        }

        /// Compiles a package and moves the result to `destination` (replacing what was there).
        static func compile(_ package: URL, into destination: URL, stage: StageName) throws -> URL {
            final class Outcome: @unchecked Sendable { var result: Result<URL, Error>? }
            let outcome = Outcome()
            let done = DispatchSemaphore(value: 0)
            MLModel.compileModel(at: package) { result in
                outcome.result = result
                done.signal()
            }
            done.wait()
            let temporary: URL
            do {
                temporary = try outcome.result!.get()
            } catch {
                throw EdgeTAMError.coreMLFailed(
                    stage: stage, problem: "cannot compile \(package.lastPathComponent): \(error.localizedDescription)")
            }
            let files = FileManager.default
            try files.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            if files.fileExists(atPath: destination.path) { try files.removeItem(at: destination) }
            try files.moveItem(at: temporary, to: destination)
            return destination
        }
    }

    extension ComputeUnits {
        /// The Core ML value this setting mirrors.
        public var mlComputeUnits: MLComputeUnits {
            switch self {
            case .cpuOnly: .cpuOnly
            case .cpuAndGPU: .cpuAndGPU
            case .cpuAndNeuralEngine: .cpuAndNeuralEngine
            case .all: .all
            }
        }
    }

    /// The compute devices Core ML can use on this device, named as a report's device block names them.
    public enum CoreMLDevices {
        public static func available() -> [String] {
            var names: [String] = []
            for device in MLComputeDevice.allComputeDevices {
                let name: String
                switch device {
                case .cpu: name = "CPU"
                case .gpu: name = "GPU"
                case .neuralEngine: name = "Neural Engine"
                @unknown default: name = "other"
                }
                if !names.contains(name) { names.append(name) }  // a Mac Pro lists several GPUs
            }
            return names
        }
    }
#endif
