/// Runs the exported stage graphs: Core ML on device, a trace replay in tests, anything else an app needs.
///
/// The session never knows which runner it talks to, as the Python driver never knows its backend.
public protocol StageRunner: AnyObject {
    /// Runs `stage` on `inputs` (named as in the stage contract) and returns its named outputs.
    /// Throws an `EdgeTAMError` naming the stage and tensor when an input does not fit the contract.
    func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor]
}
