import PhotoCloudTestKit

/// libpng's simplified reader (`LibpngReference`), the decoder PNGCodec's
/// pixels must match, for the `png` target's differential check.
public enum PNGReference {
    public static func decode(_ png: [UInt8]) -> [UInt8]? { LibpngReference.decode(png) }
}
