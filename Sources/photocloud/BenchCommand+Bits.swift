import ArgumentParser
import Foundation
import PhotoCloudBench

extension BenchCommand {
    struct Bits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bits",
            abstract: "Bits per channel 1-3 for one photo: cover size, bytes on the wire, PSNR and two steganalysis figures.",
            discussion: """
                For each photo size and 1, 2 and 3 bits per colour channel: the cover a server would make \
                (the photo scaled so the payload fills at most half of it), the stego PNG's size per photo byte, \
                PSNR, the chi-square attack's probability and Ker's calibrated HCF ratio for cover and stego image. \
                Run from the repository (the covers come from Fixtures/covers) in a release build; \
                docs/steganography.md has the table.
                """
        )

        @Option(help: "The photo to make covers from (default Fixtures/covers/astronaut.png); every PNG beside it gives the detector's spread among covers.")
        var cover: String?

        @Option(name: .customLong("photo-bytes"), help: "Photo size, e.g. 4000000 or 300KiB; repeat for several (default 4000000 and 300000).")
        var photoBytes: [String] = []

        @Option(help: "Also write the results as JSON to this file (- for stdout).")
        var json: String?

        func validate() throws {
            for text in photoBytes {
                guard let size = ByteSize.parse(text), (1...64_000_000).contains(size) else {
                    throw ValidationError("--photo-bytes takes 1 byte to 64 MB, e.g. 4000000 or 300KiB, not \(text)")
                }
            }
        }

        func run() async throws {
            let sizes = photoBytes.isEmpty ? BitsTableBench.defaultPhotoSizes : photoBytes.compactMap(ByteSize.parse)
            let progress = Progress()
            let result = try BitsTableBench(coverPath: cover, photoSizes: sizes).run { progress.stage($0) }
            progress.finish()
            print("bits per channel: covers from \(result.cover) (\(result.cover_width)x\(result.cover_height)) as a server scales them, \(result.date)")
            print("  * = the sender's choice; chi-square p and HCF ratio are cover -> stego; covers = the cover ratio of \(result.spread_covers.count) photos at that size")
            print("  photo B   bits  cover        fill   stego PNG B  wire/photo  changed  PSNR dB  chi-sq p (max prefix)      HCF ratio (change)            covers          embed s  encode s")
            for row in result.rows {
                let hcf = row.hcf_ratio_cover.map { cover in
                    String(format: "%.4f -> %.4f (%+.4f)", cover, row.hcf_ratio_stego ?? .nan, row.hcf_ratio_change ?? .nan)
                } ?? "n/a"
                let covers = row.hcf_ratio_covers_min.map { String(format: "%.4f-%.4f", $0, row.hcf_ratio_covers_max ?? .nan) } ?? "n/a"
                print(String(format: "  %-9d %d%@    %@  %.3f  %11d  %10.3f  %6.1f%%  %7.2f  %.3f -> %.3f (%.3f)     %@  %@  %7.3f  %8.3f%@",
                             row.photo_bytes, row.bits_per_channel, row.sender_choice ? "*" : " ",
                             padded("\(row.cover_width)x\(row.cover_height)", 11), row.fill, row.stego_png_bytes, row.wire_bytes_per_photo_byte,
                             row.changed_share * 100, row.psnr_db, row.chi_square_cover, row.chi_square_stego, row.chi_square_stego_max_prefix,
                             padded(hcf, 28), padded(covers, 14), row.embed_seconds, row.encode_seconds, row.intact ? "" : "  NOT INTACT"))
            }
            for line in result.skipped { print("  skipped: \(line)") }
            if let json { try JSONOutput.write(result, to: json) }
            if result.rows.contains(where: { !$0.intact }) { throw CLIError("a payload did not come back out of its stego image") }
        }

        private func padded(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
    }
}
