import CPNGReader
import CZlib

/// What a chunk walk found: the header, the byte ranges libpng will be given,
/// and how much image data (IDAT) the file holds.
struct PNGLayout {
    let header: PNGHeader
    /// Signature and IHDR, the kept ancillary chunks, the IDAT run, IEND; in file order.
    let ranges: [cpng_range]
    /// The IDAT chunks' data bytes, all together.
    let imageDataBytes: Int
    /// Chunks that libpng will not see (text, metadata, unknown, duplicates, oversized).
    let droppedChunks: Int
}

/// Walks a PNG's chunks before libpng sees any byte, refusing what could make
/// it allocate or work without bound: every declared length is checked against
/// what remains of the input, IHDR's CRC and contents are checked, unknown
/// critical chunks and scattered IDATs are refused, a missing IEND is a
/// truncation. Only the chunks that change the decoded pixels are kept (the
/// ones libpng's simplified reader processes), each at most
/// `maxAncillaryBytes`; everything else (text, EXIF, unknown chunks, chunks
/// after the image data) is dropped unread. libpng checks the CRCs of what it is given.
enum PNGChunkWalk {
    /// The ancillary chunks libpng's simplified reader uses; everything else is dropped.
    static let usedAncillary: Set<UInt32> = Set(["tRNS", "gAMA", "sRGB", "cHRM", "iCCP", "sBIT", "bKGD"].map(code))
    /// The most bytes a kept ancillary chunk may have (an ICC profile is the only large one).
    static let maxAncillaryBytes = 1 << 20
    static let signatureBytes = 8

    static func walk(_ window: inout PNGByteWindow) throws(PNGError) -> PNGLayout {
        let what = PNGError.prefix(window.name)
        let size = window.size
        func truncated(_ at: Int) -> PNGError {
            PNGError(.corrupt, "\(what)truncated PNG: the data ends at byte \(size) inside a chunk or before IEND (offset \(at))")
        }
        var offset = signatureBytes
        guard size >= offset + 12 + 13 else { throw truncated(offset) }
        guard try window.bigEndian32(at: offset) == 13, try window.bigEndian32(at: offset + 4) == ihdr else {
            throw PNGError(.corrupt, "\(what)damaged PNG: the first chunk is not a 13-byte IHDR")
        }
        let headerChunk = Array(try window.bytes(at: offset + 4, count: 17))
        let crc = try window.bigEndian32(at: offset + 21)
        guard crc == headerChunk.withUnsafeBufferPointer({ UInt32(crc32(0, $0.baseAddress, 17)) }) else {
            throw PNGError(.corrupt, "\(what)damaged PNG: the header (IHDR) fails its CRC check")
        }
        let header = try PNGHeader(headerChunk[4...], name: window.name)
        offset += 25

        var ranges = [cpng_range(offset: 0, length: UInt64(offset))]
        var kept: Set<UInt32> = []
        var imageData: (start: Int, end: Int)?
        var imageDataEnded = false
        var imageDataBytes = 0
        var dropped = 0
        while true {
            guard size - offset >= 12 else { throw truncated(offset) }
            let length = Int(try window.bigEndian32(at: offset))
            let type = try window.bigEndian32(at: offset + 4)
            guard (0..<4).allSatisfy({ isLetter(UInt8(truncatingIfNeeded: type >> ($0 * 8))) }) else {
                throw PNGError(.corrupt, "\(what)damaged PNG: a chunk at offset \(offset) has no valid type")
            }
            guard length <= 0x7FFF_FFFF, length <= size - offset - 12 else {
                throw PNGError(.corrupt, "\(what)damaged or forged PNG: chunk \(name(type)) at offset \(offset) declares \(length) bytes, but only \(max(0, size - offset - 12)) remain")
            }
            let end = offset + 12 + length
            if type != idat, imageData != nil { imageDataEnded = true }
            switch type {
            case idat:
                guard !imageDataEnded else {
                    throw PNGError(.corrupt, "\(what)damaged PNG: the image data (IDAT) is interrupted by other chunks")
                }
                imageData = (imageData?.start ?? offset, end)
                imageDataBytes += length
            case iend:
                guard let run = imageData else { throw PNGError(.corrupt, "\(what)damaged PNG: no image data (IDAT) before IEND") }
                ranges.append(cpng_range(offset: UInt64(run.start), length: UInt64(run.end - run.start)))
                ranges.append(cpng_range(offset: UInt64(offset), length: 12))
                return PNGLayout(header: header, ranges: ranges, imageDataBytes: imageDataBytes, droppedChunks: dropped)
            case plte:
                guard imageData == nil, !kept.contains(type), length <= 768 else {
                    throw PNGError(.corrupt, "\(what)damaged PNG: a misplaced, repeated or oversized palette (PLTE)")
                }
                kept.insert(type)
                ranges.append(cpng_range(offset: UInt64(offset), length: UInt64(end - offset)))
            case ihdr:
                throw PNGError(.corrupt, "\(what)damaged PNG: a second IHDR at offset \(offset)")
            default:
                if type & 0x2000_0000 == 0 {   // an uppercase first letter: critical
                    throw PNGError(.corrupt, "\(what)unsupported PNG: unknown critical chunk \(name(type))")
                }
                if imageData == nil, usedAncillary.contains(type), !kept.contains(type), length <= maxAncillaryBytes {
                    kept.insert(type)
                    ranges.append(cpng_range(offset: UInt64(offset), length: UInt64(end - offset)))
                } else {
                    dropped += 1
                }
            }
            offset = end
        }
    }

    static let ihdr = code("IHDR"), plte = code("PLTE"), idat = code("IDAT"), iend = code("IEND")

    static func code(_ name: String) -> UInt32 { name.utf8.reduce(0) { $0 << 8 | UInt32($1) } }

    static func name(_ code: UInt32) -> String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: code >> (24 - $0 * 8)) }, as: UTF8.self)
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (65...90).contains(byte) || (97...122).contains(byte) }
}
