import Foundation
import PhotoCloudProtocol

/// Plots as SVG a browser shows, drawn from figures alone (no plotting
/// library, nothing fetched): lines over a numeric or labelled x axis, and
/// grouped bars. Every text is escaped; every number is finite or left out.
public enum SVGPlot {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]

        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    static let width = 900.0, height = 440.0
    static let left = 78.0, right = 300.0, top = 48.0, bottom = 62.0
    static let colours = ["#c2185b", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#455a64"]

    /// Lines, one per series. `xTicks` label the x axis at given values (default: five even steps);
    /// `logY` draws y on a log scale (latencies span several orders of magnitude).
    public static func lines(title: String, xLabel: String, yLabel: String, series: [Series],
                             xTicks: [(value: Double, label: String)]? = nil, logY: Bool = false) -> String {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
        let xs = points.map(\.x), ys = points.map(\.y)
        let xMin = xTicks?.map(\.value).min() ?? xs.min() ?? 0, xMax = xTicks?.map(\.value).max() ?? xs.max() ?? 1
        var yMin = logY ? (ys.min() ?? 1) : min(0, ys.min() ?? 0), yMax = ys.max() ?? 1
        if logY { yMin = pow(10, floor(log10(yMin))); yMax = pow(10, ceil(log10(max(yMax, yMin * 10)))) } else { yMax = nice(yMax) }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double { left + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * plotW }
        func py(_ y: Double) -> Double {
            let t = logY ? (log10(y) - log10(yMin)) / (log10(yMax) - log10(yMin)) : (yMax > yMin ? (y - yMin) / (yMax - yMin) : 0)
            return top + plotH - t * plotH
        }
        var svg = header(title)
        // Grid and y ticks.
        let yTicks: [Double] = logY
            ? stride(from: log10(yMin), through: log10(yMax), by: 1).map { pow(10, $0) }
            : (0...5).map { yMin + (yMax - yMin) * Double($0) / 5 }
        for tick in yTicks {
            svg += line(left, py(tick), left + plotW, py(tick), colour: "#8884")
            svg += text(left - 8, py(tick) + 4, number(tick), anchor: "end", size: 12)
        }
        var ticks: [(value: Double, label: String)] = []
        if let xTicks {
            ticks = xTicks
        } else {
            for step in 0...4 {
                let value: Double = xMin + (xMax - xMin) * Double(step) / 4
                ticks.append((value, number(value)))
            }
        }
        for tick in ticks {
            svg += line(px(tick.value), top + plotH, px(tick.value), top + plotH + 5, colour: "#888")
            svg += text(px(tick.value), top + plotH + 20, tick.label, anchor: "middle", size: 12)
        }
        svg += axes(plotW: plotW, plotH: plotH, xLabel: xLabel, yLabel: yLabel + (logY ? " (log scale)" : ""))
        for (index, item) in series.enumerated() {
            let colour = colours[index % colours.count]
            let kept = item.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
            if kept.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\""
                    + kept.map { "\(format(px($0.x))),\(format(py($0.y)))" }.joined(separator: " ") + "\"/>\n"
            }
            for point in kept { svg += "<circle cx=\"\(format(px(point.x)))\" cy=\"\(format(py(point.y)))\" r=\"3\" fill=\"\(colour)\"/>\n" }
            svg += legend(index, item.name, colour: colour)
        }
        return svg + "</svg>\n"
    }

    /// Grouped bars: one group per label, one bar per series in each (nil: no bar).
    public static func bars(title: String, yLabel: String, groups: [String], series: [(name: String, values: [Double?])],
                            valueFormat: (Double) -> String = { number($0) }) -> String {
        let values = series.flatMap(\.values).compactMap { $0 }.filter(\.isFinite)
        let yMax = nice(max(values.max() ?? 1, 1e-9))
        let plotW = width - left - right, plotH = height - top - bottom
        func py(_ y: Double) -> Double { top + plotH - (y / yMax) * plotH }
        var svg = header(title)
        for step in 0...5 {
            let tick = yMax * Double(step) / 5
            svg += line(left, py(tick), left + plotW, py(tick), colour: "#8884")
            svg += text(left - 8, py(tick) + 4, valueFormat(tick), anchor: "end", size: 12)
        }
        let groupW = plotW / Double(max(1, groups.count))
        let barW = groupW * 0.8 / Double(max(1, series.count))
        for (g, group) in groups.enumerated() {
            let x0 = left + Double(g) * groupW + groupW * 0.1
            svg += text(x0 + groupW * 0.4, top + plotH + 20, group, anchor: "middle", size: 12)
            for (s, item) in series.enumerated() {
                guard g < item.values.count, let value = item.values[g], value.isFinite else { continue }
                let x = x0 + Double(s) * barW, y = py(max(0, value))
                svg += "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(barW * 0.92))\" height=\"\(format(top + plotH - y))\" "
                    + "fill=\"\(colours[s % colours.count])\"><title>\(escape(item.name)), \(escape(group)): \(escape(valueFormat(value)))</title></rect>\n"
                svg += text(x + barW * 0.46, y - 4, valueFormat(value), anchor: "middle", size: 10)
            }
        }
        svg += axes(plotW: plotW, plotH: plotH, xLabel: "", yLabel: yLabel)
        for (index, item) in series.enumerated() { svg += legend(index, item.name, colour: colours[index % colours.count]) }
        return svg + "</svg>\n"
    }

    // MARK: Parts

    static func header(_ title: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" \
        font-family="system-ui, sans-serif" role="img" aria-label="\(escape(title))">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="28" text-anchor="middle" font-size="17" font-weight="600">\(escape(title))</text>

        """
    }

    static func axes(plotW: Double, plotH: Double, xLabel: String, yLabel: String) -> String {
        line(left, top, left, top + plotH, colour: "#444") + line(left, top + plotH, left + plotW, top + plotH, colour: "#444")
            + text(left + plotW / 2, height - 16, xLabel, anchor: "middle", size: 13)
            + "<text transform=\"translate(18 \(format(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel))</text>\n"
    }

    static func legend(_ index: Int, _ name: String, colour: String) -> String {
        let y = top + 10 + Double(index) * 22, x = width - right + 16
        return "<rect x=\"\(format(x))\" y=\"\(format(y - 9))\" width=\"14\" height=\"10\" fill=\"\(colour)\"/>\n"
            + text(x + 20, y, name, anchor: "start", size: 12)
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, colour: String) -> String {
        "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\" stroke=\"\(colour)\"/>\n"
    }

    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, size: Int) -> String {
        "<text x=\"\(format(x))\" y=\"\(format(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\">\(escape(content))</text>\n"
    }

    /// A round number at or above `value`: 1, 2 or 5 times a power of ten.
    static func nice(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2.0, 5.0, 10.0] where step * power >= value { return step * power }
        return 10 * power
    }

    public static func number(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.0f", value) }
        if abs(value) >= 1 { return String(format: "%.1f", value) }
        return String(format: "%.2g", value)
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String { MarkupText.escape(text) }
}
