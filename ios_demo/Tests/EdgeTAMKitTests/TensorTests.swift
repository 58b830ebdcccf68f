import Testing

@testable import EdgeTAMKit

@Suite struct TensorTests {
    @Test func zerosHaveTheShapesCount() {
        let t = Tensor(zeros: [2, 3, 4])
        #expect(t.count == 24)
        #expect(t.scalars.allSatisfy { $0 == 0 })
    }

    @Test func repeatingFillsEveryValue() {
        let t = Tensor(repeating: -1, shape: [3, 1])
        #expect(t.scalars == [-1, -1, -1])
        #expect(Tensor(shape: [], scalars: [5]).count == 1)
    }
}
