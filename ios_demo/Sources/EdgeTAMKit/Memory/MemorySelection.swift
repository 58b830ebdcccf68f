/// Which stored frames a frame reads, in the original's order (`runtime/memory_bank.py` `MemorySelection`).
public struct MemorySelection: Sendable, Equatable {
    /// A stored frame and whether it is read from the conditioning store.
    public struct Source: Sendable, Equatable, Hashable {
        public var frame: Int
        public var fromCond: Bool

        public init(frame: Int, fromCond: Bool) {
            self.frame = frame
            self.fromCond = fromCond
        }
    }

    /// Conditioning frames, one per conditioning slot (temporal position 0).
    public var cond: [Int]
    /// One entry per recent slot j (temporal position j + 1): the frame read there, or nil for an empty slot.
    public var recent: [Source?]
    /// Frames whose object pointers are read, in slot order.
    public var ptrs: [Source]

    public init(cond: [Int], recent: [Source?], ptrs: [Source]) {
        self.cond = cond
        self.recent = recent
        self.ptrs = ptrs
    }
}

/// The conditioning frames a frame attends to: all of them (in the given order), or at most `maxCond`: the
/// closest before, the closest at-or-after, then the temporally closest others (ties keep the given order),
/// exactly as the original caps them. Throws when a cap below 2 would have to drop frames.
public func selectClosestCondFrames(frameIndex: Int, condFrames: [Int], maxCond: Int?) throws -> [Int] {
    guard let maxCond, condFrames.count > maxCond else {
        return condFrames
    }
    guard maxCond >= 2 else {
        throw EdgeTAMError.session(
            "at least 2 conditioning slots are needed when capping conditioning frames; export again with "
                + "--cond-slots 2 or more")
    }
    var selected: [Int] = []
    if let before = condFrames.filter({ $0 < frameIndex }).max() {
        selected.append(before)
    }
    if let after = condFrames.filter({ $0 >= frameIndex }).min() {
        selected.append(after)
    }
    // A stable sort by distance: ties keep their order in condFrames, as Python's sorted does.
    let rest = condFrames.enumerated()
        .filter { !selected.contains($0.element) }
        .sorted { (abs($0.element - frameIndex), $0.offset) < (abs($1.element - frameIndex), $1.offset) }
        .map(\.element)
    return selected + rest.prefix(maxCond - selected.count)
}

/// Which stored frames the frame `frameIndex` reads (`select_memories`): the conditioning frames (capped to
/// `maxCond`), the memories of the `numMaskmem − 1` frames just before it (after it, in reverse; an
/// unselected conditioning frame may fill such a slot), and the object pointers of the conditioning frames
/// in the past plus up to `maxObjPtrs − 1` frames before it (within the video when its length is known).
public func selectMemories(
    frameIndex: Int,
    condFrames: [Int],
    nonCondFrames: Set<Int>,
    numMaskmem: Int,
    maxObjPtrs: Int,
    maxCond: Int?,
    numFrames: Int?,
    reverse: Bool
) throws -> MemorySelection {
    let cond = try selectClosestCondFrames(frameIndex: frameIndex, condFrames: condFrames, maxCond: maxCond)
    let unselected = Set(condFrames).subtracting(cond)
    let step = reverse ? 1 : -1  // towards the frames already processed

    var recent: [MemorySelection.Source?] = []
    for tPos in 1..<max(numMaskmem, 1) {
        let prev = frameIndex + step * (numMaskmem - tPos)
        if nonCondFrames.contains(prev) {
            recent.append(.init(frame: prev, fromCond: false))
        } else if unselected.contains(prev) {
            recent.append(.init(frame: prev, fromCond: true))
        } else {
            recent.append(nil)
        }
    }

    let limit = numFrames.map { min($0, maxObjPtrs) } ?? maxObjPtrs
    var ptrs = cond.filter { reverse ? $0 >= frameIndex : $0 <= frameIndex }.map {
        MemorySelection.Source(frame: $0, fromCond: true)
    }
    var tDiff = 1
    while tDiff < limit {
        let t = frameIndex + step * tDiff
        if t < 0 || numFrames.map({ t >= $0 }) == true {
            break
        }
        if nonCondFrames.contains(t) {
            ptrs.append(.init(frame: t, fromCond: false))
        } else if unselected.contains(t) {
            ptrs.append(.init(frame: t, fromCond: true))
        }
        tDiff += 1
    }
    return MemorySelection(cond: cond, recent: recent, ptrs: ptrs)
}
