//! Charts drawn as SVG on the server: no script, no library, readable in
//! any browser. Each chart is a `<figure>` with its caption; each bar or
//! point carries a `<title>` (the browser's tooltip) with its exact value.

use maud::{html, Markup};

const W: f64 = 600.0;
const H: f64 = 160.0;
/// Room for the axis labels.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;
/// Room for the last axis label.
const RIGHT: f64 = 16.0;

/// One bar: its axis label (shown when `labelled`), its tooltip, its value.
pub struct Bar {
    pub label: String,
    pub tip: String,
    pub value: f64,
    pub labelled: bool,
}

/// A line's points, in order along the axis: (position 0..=1, value).
pub struct Line {
    pub name: &'static str,
    /// A CSS class that gives the line its colour.
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// The y axis's top: `max` rounded up to 1, 2 or 5 times a power of ten.
pub fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

fn frame(caption: &str, top: &str, body: Markup, axis: Markup) -> Markup {
    let plot_h = H - BOTTOM - TOP;
    html! {
        figure.chart {
            figcaption { (caption) }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(caption) {
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
                line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(W - RIGHT) y2=(TOP + plot_h) {}
                text.tick x=(LEFT - 4.0) y=(TOP + 8.0) text-anchor="end" { (top) }
                text.tick x=(LEFT - 4.0) y=(TOP + plot_h) text-anchor="end" { "0" }
                (body)
                (axis)
            }
        }
    }
}

/// A bar chart of `bars` in order; `unit` formats the axis's top value.
pub fn bars(caption: &str, bars: &[Bar], unit: impl Fn(f64) -> String) -> Markup {
    let top = nice_max(bars.iter().map(|b| b.value).fold(0.0, f64::max));
    let plot_h = H - BOTTOM - TOP;
    let step = (W - LEFT - RIGHT) / bars.len().max(1) as f64;
    let width = (step * 0.8).max(1.0);
    let body = html! {
        @for (i, b) in bars.iter().enumerate() {
            @let h = (b.value / top * plot_h).max(if b.value > 0.0 { 1.0 } else { 0.0 });
            rect.bar x=(format!("{:.1}", LEFT + i as f64 * step + (step - width) / 2.0))
                y=(format!("{:.1}", TOP + plot_h - h)) width=(format!("{width:.1}"))
                height=(format!("{h:.1}")) {
                title { (b.tip) }
            }
        }
    };
    let axis = html! {
        @for (i, b) in bars.iter().enumerate().filter(|(_, b)| b.labelled) {
            text.tick x=(format!("{:.1}", LEFT + (i as f64 + 0.5) * step)) y=(H - 4.0)
                text-anchor="middle" { (b.label) }
        }
    };
    frame(caption, &unit(top), body, axis)
}

/// Lines over one axis; `ticks` are (position 0..=1, label) along it.
pub fn lines(caption: &str, lines: &[Line], ticks: &[(f64, String)]) -> Markup {
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let plot_h = H - BOTTOM - TOP;
    let x = |f: f64| LEFT + f.clamp(0.0, 1.0) * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let body = html! {
        @for l in lines {
            @let pts: Vec<String> = l.points.iter()
                .map(|(f, v)| format!("{:.1},{:.1}", x(*f), y(*v))).collect();
            polyline class=(l.class) points=(pts.join(" ")) fill="none" { title { (l.name) } }
            // A lone sample shows as a dot.
            @if let [(f, v)] = l.points.as_slice() {
                circle class=(l.class) cx=(format!("{:.1}", x(*f))) cy=(format!("{:.1}", y(*v))) r="3" {
                    title { (l.name) ": " (v) }
                }
            }
        }
    };
    let axis = html! {
        @for (f, label) in ticks {
            text.tick x=(format!("{:.1}", x(*f))) y=(H - 4.0) text-anchor="middle" { (label) }
        }
    };
    html! {
        (frame(caption, &format!("{top}"), body, axis))
        p.legend {
            @for l in lines { span class=(format!("key {}", l.class)) { "■ " } (l.name) " " }
        }
    }
}

/// Horizontal bars, one per labelled count, the largest first.
pub fn ranking(caption: &str, mut items: Vec<(String, u64)>) -> Markup {
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let max = items.first().map_or(1, |i| i.1.max(1)) as f64;
    html! {
        figure.chart {
            figcaption { (caption) }
            @if items.is_empty() { p.muted { "None." } }
            table.ranking {
                @for (label, n) in &items {
                    tr {
                        td { (label) }
                        td.count { (n) }
                        td.barcell {
                            span.hbar style=(format!("width:{:.1}%", *n as f64 / max * 100.0)) {}
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_and_bars_scale_to_them() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(420.0), 500.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        let b = |v: f64| Bar {
            label: "l".into(),
            tip: format!("{v} files"),
            value: v,
            labelled: true,
        };
        let svg = bars("Files", &[b(0.0), b(5.0), b(10.0)], |v| v.to_string()).into_string();
        // The tallest bar reaches the top of the plot (height 132 of 160).
        assert!(svg.contains("height=\"132.0\""), "{svg}");
        assert!(svg.contains("<title>5 files</title>"));
        assert!(svg.contains(">10</text>"));
    }
}
