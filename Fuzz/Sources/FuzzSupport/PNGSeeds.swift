import PNGCodec
import PhotoCloudTestKit

/// Seeds of the `png` target: small valid PNGs of every colour type and bit
/// depth, plain and interlaced (libpng's full write API, `PNGFixture`), our
/// own encoder's output, and blank images with the ancillary chunks the
/// decoder keeps (and ones it drops) in front of their data.
public enum PNGSeeds {
    public static func all() -> [(name: String, bytes: [UInt8])] {
        var seeds: [(name: String, bytes: [UInt8])] = []
        for colorType in PNGFixture.ColorType.allCases {
            let depths = PNGFixture.bitDepths(for: colorType)
            for depth in Set([depths.first ?? 8, depths.last ?? 8]).sorted() {
                for interlaced in [false, true] {
                    let spec = PNGFixture.Spec(width: interlaced ? 11 : 7, height: interlaced ? 9 : 5, colorType: colorType, bitDepth: depth,
                                               interlaced: interlaced, seed: UInt64(depth))
                    seeds.append(("fixture-\(colorType)-\(depth)\(interlaced ? "-interlaced" : "")", PNGFixture.make(spec).png))
                }
            }
        }
        if let image = try? RGBAImage(width: 6, height: 4, pixels: (0..<96).map { UInt8(truncatingIfNeeded: $0 &* 11) }),
           let png = try? PNGCodec().encode(image) {
            seeds.append(("encoder-rgba", png))
        }
        let gamma = PNGHeaderForgery.chunk("gAMA", [0, 0, 0xB1, 0x8F])
        let srgb = PNGHeaderForgery.chunk("sRGB", [0])
        let text = PNGHeaderForgery.chunk("tEXt", Array("Comment\u{0}made for fuzzing".utf8))
        let transparent = PNGHeaderForgery.chunk("tRNS", [0, 0x20, 0, 0x40, 0, 0x60])
        seeds.append(("blank-rgb-chunks", HostilePNG.blank(width: 9, height: 3, colorType: 2, extraChunks: [gamma, srgb, text, transparent])))
        seeds.append(("blank-gray16-interlaced", HostilePNG.blank(width: 13, height: 13, bitDepth: 16, colorType: 0, interlaced: true,
                                                                 extraChunks: [PNGHeaderForgery.chunk("bKGD", [0, 9])])))
        let palette = PNGHeaderForgery.chunk("PLTE", [0, 0, 0, 255, 255, 255, 255, 0, 0])
        seeds.append(("blank-palette", HostilePNG.blank(width: 8, height: 8, bitDepth: 2, colorType: 3,
                                                       extraChunks: [palette, PNGHeaderForgery.chunk("tRNS", [0, 128])])))
        return seeds
    }
}
