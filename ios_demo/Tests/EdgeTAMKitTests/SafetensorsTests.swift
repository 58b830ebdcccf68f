import Foundation
import Testing

@testable import EdgeTAMKit

@Suite struct SafetensorsTests {
    /// A safetensors file: u64 little-endian header length, JSON header, data.
    private func file(header: String, data: [UInt8]) -> Data {
        let json = Array(header.utf8)
        var bytes = (0..<8).map { UInt8((UInt64(json.count) >> (8 * $0)) & 0xFF) }
        bytes += json + data
        return Data(bytes)
    }

    private let floats: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 192]  // 1.0, -2.0 little-endian

    @Test func readsTensorsOfEachDtype() throws {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "#
            + #""b": {"dtype": "U8", "shape": [1, 3], "data_offsets": [8, 11]}, "#
            + #""c": {"dtype": "U16", "shape": [1], "data_offsets": [11, 13]}, "__metadata__": {"format": "x"}}"#
        let st = try SafetensorsFile(file(header: header, data: floats + [7, 8, 9] + [0x80, 0x3F]))
        #expect(try st.tensor("a") == Tensor(shape: [2], scalars: [1, -2]))
        let b = try st.uint8("b")
        #expect(b.values == [7, 8, 9] && b.shape == [1, 3])
        #expect(try st.uint16("c").values == [0x3F80])
        #expect(st.metadata == ["format": "x"])
        #expect(throws: EdgeTAMError.self) { try st.uint8("a") }  // wrong dtype
        #expect(throws: EdgeTAMError.self) { try st.tensor("missing") }
    }

    @Test func rejectsMalformedFiles() {
        #expect(throws: EdgeTAMError.self) { try SafetensorsFile(Data([1, 2, 3])) }
        // A header length past the end.
        #expect(throws: EdgeTAMError.self) { try SafetensorsFile(file(header: "{}", data: []).prefix(9)) }
        // A shape that does not fill its byte range.
        let short = #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#
        #expect(throws: EdgeTAMError.self) { try SafetensorsFile(file(header: short, data: floats)) }
        // A byte range past the data.
        let past = #"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#
        #expect(throws: EdgeTAMError.self) { try SafetensorsFile(file(header: past, data: floats)) }
    }
}
