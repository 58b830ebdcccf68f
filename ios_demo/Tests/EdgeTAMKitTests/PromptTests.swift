import Testing

@testable import EdgeTAMKit

private struct PromptVectors: Decodable {
    struct PointCase: Decodable {
        let points: [[Double]]?
        let labels: [Int]?
        let box: [Double]?
        let width: Int
        let height: Int
        let image_size: Int
        let coords: [[Double]]?
        let codes: [Double]?
        let error: String?
    }
    struct MaskCase: Decodable {
        let mask: [[Int]]
        let width: Int
        let height: Int
        let binary: [[Double]]?
        let error: String?
    }
    let points: [PointCase]
    let masks: [MaskCase]
}

@Suite struct PromptTests {
    @Test func pointsAndBoxesConvertAsInPython() throws {
        let vectors = try Vectors.json("prompts.json", as: PromptVectors.self)
        #expect(vectors.points.count >= 70)
        var errors = 0
        for (i, c) in vectors.points.enumerated() {
            let result = Result {
                try pointPrompt(
                    points: c.points?.map { Point(x: $0[0], y: $0[1]) }, labels: c.labels,
                    box: c.box.map { Box(x0: $0[0], y0: $0[1], x1: $0[2], y1: $0[3]) },
                    width: c.width, height: c.height, imageSize: c.image_size)
            }
            switch (result, c.error) {
            case let (.success(points), nil):
                let expected = try #require(c.coords).flatMap { $0.map { Float($0) } }
                #expect(Vectors.firstDifference(points.coords, expected) == nil, "case \(i): coords")
                #expect(points.labels == (c.codes ?? []).map { Float($0) }, "case \(i): labels")
            case let (.failure(error as EdgeTAMError), "InputError"?):
                #expect(error.pythonType == "InputError", "case \(i)")
                errors += 1
            default:
                Issue.record("case \(i): Swift gave \(result), Python \(c.error ?? "a result")")
            }
        }
        #expect(errors >= 15)
    }

    @Test func masksConvertAsInPython() throws {
        let vectors = try Vectors.json("prompts.json", as: PromptVectors.self)
        for c in vectors.masks {
            let mask = try BinaryMask(
                width: c.mask.first?.count ?? 0, height: c.mask.count, bytes: c.mask.flatMap { $0.map { UInt8($0) } })
            if c.error != nil {
                #expect(throws: EdgeTAMError.self) { try maskPrompt(mask, width: c.width, height: c.height) }
            } else {
                let out = try maskPrompt(mask, width: c.width, height: c.height)
                #expect(out.shape == [c.height, c.width])
                let expected = try #require(c.binary).flatMap { $0.map { Float($0) } }
                #expect(out.scalars == expected)
            }
        }
    }

    @Test func maskRejectsAValueCountThatDoesNotFit() {
        #expect(throws: EdgeTAMError.self) { try BinaryMask(width: 2, height: 2, values: [true]) }
    }
}
