/// What a session remembers between calls, and the rules that tie it together, in one place — the Swift
/// twin of `runtime/session_state.py` (same fields, same rules, same method names in Swift spelling):
///
/// 1. `objIDs`: the objects in the order they were first prompted; object i is row i of every output.
///    Closed once tracking starts (`trackingStarted`).
/// 2. `pending[kind][frame][i]`: object i's output from a prompt, not yet in the bank. `.cond` for a frame
///    not tracked when prompted (it becomes a conditioning memory), `.nonCond` for a correction.
/// 3. `cond` / `nonCond`: the bank, one `FrameMemory` per frame for all objects; a frame is in at most one
///    of them; both keep the order frames were first stored (it fixes the conditioning slots' order).
/// 4. `prompted[kind]`: frames whose bank entry came from prompts; propagation reuses them.
/// 5. `tracked[frame]`: the direction a frame was last tracked in (true: reverse).
struct SessionState: Sendable {
    /// Whether a prompt's frame becomes a conditioning memory or corrects a tracked frame.
    enum Kind: Sendable, CaseIterable {
        case cond, nonCond
    }

    private(set) var objIDs: [Int] = []
    private var pending: [Kind: [Int: [Int: ObjectOutput]]] = [.cond: [:], .nonCond: [:]]
    private(set) var cond = OrderedFrames<FrameMemory>()
    private(set) var nonCond = OrderedFrames<FrameMemory>()
    private var prompted: [Kind: Set<Int>] = [.cond: [], .nonCond: []]
    private var tracked: [Int: Bool] = [:]
    private(set) var trackingStarted = false

    // MARK: objects

    /// Row of a known object, or nil.
    func objectIndex(_ id: Int) -> Int? {
        objIDs.firstIndex(of: id)
    }

    /// Row of a new object (rule 1: only before tracking starts; the caller checks).
    mutating func addObject(_ id: Int) -> Int {
        precondition(!trackingStarted, "objects are closed once tracking starts")
        objIDs.append(id)
        return objIDs.count - 1
    }

    // MARK: prompts

    /// The kind of a prompt on this frame and the direction to condition it in (rules 2 and 5).
    func promptKind(_ frame: Int) -> (Kind, reverse: Bool) {
        if let reverse = tracked[frame] {
            return (.nonCond, reverse)
        }
        return (.cond, false)
    }

    /// A prompt's output replaces the object's earlier one on that frame (rule 2).
    mutating func setPending(_ kind: Kind, frame: Int, object: Int, _ output: ObjectOutput) {
        pending[kind, default: [:]][frame, default: [:]][object] = output
    }

    func pendingFrames(_ kind: Kind) -> [Int] {
        (pending[kind] ?? [:]).keys.sorted()
    }

    /// The object's latest output on a frame: pending of `kind` first, then the bank; a bank entry whose
    /// masks were dropped has no output to give.
    func latestOutput(frame: Int, object: Int, kind: Kind) -> ObjectOutput? {
        if let output = pending[kind]?[frame]?[object] {
            return output
        }
        for store in [cond, nonCond] {
            if let memory = store[frame], let masks = memory.lowResMasks {
                let rows = object..<(object + 1)
                return ObjectOutput(
                    lowResMasks: masks.rows(rows), objPtr: memory.objPtr.rows(rows),
                    objectScoreLogits: memory.objectScoreLogits.rows(rows))
            }
        }
        return nil
    }

    // MARK: bank

    /// A consolidated prompt frame enters the bank (rules 3 and 4).
    mutating func storePrompted(_ kind: Kind, frame: Int, _ memory: FrameMemory) {
        switch kind {
        case .cond: cond[frame] = memory
        case .nonCond: nonCond[frame] = memory
        }
        prompted[kind, default: []].insert(frame)
    }

    /// After `storePrompted` for every pending frame: clear pending, keep rules 3 and 4, and close the
    /// object list once a conditioning frame exists (rule 1).
    mutating func finishConsolidation() {
        for kind in Kind.allCases {
            pending[kind] = [:]
        }
        for frame in cond.frames {
            nonCond[frame] = nil
        }
        let promptedCond = prompted[.cond] ?? []
        prompted[.nonCond]?.subtract(promptedCond)
        trackingStarted = trackingStarted || !cond.isEmpty
    }

    /// The bank entry of a prompted frame, which propagation reuses instead of tracking it (rule 4).
    func reusable(_ frame: Int) -> FrameMemory? {
        if prompted[.cond]?.contains(frame) == true {
            return cond[frame]
        }
        if prompted[.nonCond]?.contains(frame) == true {
            return nonCond[frame]
        }
        return nil
    }

    mutating func storeTracked(_ frame: Int, _ memory: FrameMemory) {
        nonCond[frame] = memory
    }

    mutating func markTracked(_ frame: Int, reverse: Bool) {
        tracked[frame] = reverse
    }

    func memory(_ source: MemorySelection.Source) -> FrameMemory? {
        source.fromCond ? cond[source.frame] : nonCond[source.frame]
    }

    // MARK: streaming

    /// Streaming: drops what no frame after `frame` can read — memories older than `recent` frames,
    /// pointers older than `ptrWindow` frames, conditioning frames beyond the `maxCond` newest once they
    /// are that old, and every mask but the newest frame's (only it can still be corrected).
    mutating func forgetUnreachable(frame: Int, recent: Int, ptrWindow: Int, maxCond: Int?) {
        let horizon = frame - max(recent, ptrWindow)
        for t in nonCond.frames where t < horizon {
            nonCond[t] = nil
        }
        nonCond.updateEach { t, memory in
            if t < frame - recent {
                memory.memBits = nil  // only its pointer is still read
            }
            if t != frame {
                memory.lowResMasks = nil
            }
        }
        cond.updateEach { t, memory in
            if t != frame {
                memory.lowResMasks = nil
            }
        }
        if let maxCond, cond.count > maxCond {
            let keep = Set(cond.frames.sorted(by: >).prefix(maxCond))
            for t in cond.frames where !keep.contains(t) && t < horizon {
                cond[t] = nil
            }
        }
        tracked = [frame: false]
        for kind in Kind.allCases {
            prompted[kind] = (prompted[kind] ?? []).filter { $0 == frame }
        }
    }

    // MARK: figures

    /// Frames with a bank entry.
    var framesRetained: Int { cond.count + nonCond.count }

    /// Bytes of the bank and the pending outputs.
    var byteCount: Int {
        let bank = (cond.orderedValues + nonCond.orderedValues).reduce(0) { $0 + $1.byteCount }
        let waiting = pending.values.flatMap(\.values).flatMap(\.values).reduce(0) { $0 + $1.byteCount }
        return bank + waiting
    }
}
