//! The size/time curve of `cargo xtask bench pack --plot FILE.svg`, drawn by hand: one labelled
//! point per contender, wall time across, layer size against umoci's up.

use super::Group;
use std::fmt::Write;

/// One contender's medians.
pub struct Point {
    pub label: String,
    pub wall: f64,
    pub size_ratio: f64,
    pub group: Group,
}

const W: f64 = 900.0;
const H: f64 = 560.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 280.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// The SVG document.
pub fn svg(points: &[Point], title: &str) -> String {
    let max_wall = points.iter().map(|p| p.wall).fold(1.0, f64::max) * 1.05;
    let lo = points.iter().map(|p| p.size_ratio).fold(1.0, f64::min);
    let hi = points.iter().map(|p| p.size_ratio).fold(1.0, f64::max);
    let (lo, hi) = ((lo * 100.0).floor() / 100.0, (hi * 100.0).ceil() / 100.0);
    let hi = if hi - lo < 0.02 { lo + 0.02 } else { hi };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |wall: f64| LEFT + wall / max_wall * plot_w;
    let y = |ratio: f64| TOP + (hi - ratio) / (hi - lo) * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="14">{}</text>"#,
        escape(title)
    );
    // axes, grid and ticks
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
    );
    let step = if max_wall > 20.0 {
        5.0
    } else if max_wall > 8.0 {
        2.0
    } else {
        1.0
    };
    let mut t = 0.0;
    while t <= max_wall {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#ddd"/><text x="{0:.1}" y="{2}" text-anchor="middle">{t}</text>"##,
            x(t),
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
        t += step;
    }
    let mut r = lo;
    while r <= hi + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="{2}"/><text x="{3}" y="{4:.1}" text-anchor="end">{r:.2}</text>"##,
            y(r),
            W - RIGHT,
            if (r - 1.0).abs() < 1e-9 {
                "#999"
            } else {
                "#eee"
            },
            LEFT - 6.0,
            y(r) + 4.0
        );
        r += 0.01;
    }
    let _ = writeln!(
        s,
        r#"<text x="{0}" y="{1}" text-anchor="middle">wall time, seconds (2 cores)</text>"#,
        LEFT + plot_w / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {0}) rotate(-90)" text-anchor="middle">layer size / umoci's</text>"#,
        TOP + plot_h / 2.0
    );
    // points, and a legend of labels on the right, joined by a thin line
    let mut order: Vec<&Point> = points.iter().collect();
    order.sort_by(|a, b| b.size_ratio.total_cmp(&a.size_ratio));
    let row = plot_h / order.len().max(1) as f64;
    for (i, p) in order.iter().enumerate() {
        let colour = match p.group {
            Group::Packer => "#1f77b4",
            Group::Competitor => "#d62728",
            Group::Reference => "#7f7f7f",
        };
        let (px, py) = (x(p.wall), y(p.size_ratio));
        let ly = TOP + row * (i as f64 + 0.5);
        let lx = W - RIGHT + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{px:.1}" y1="{py:.1}" x2="{lx:.1}" y2="{ly:.1}" stroke="{colour}" stroke-opacity="0.25"/>"#
        );
        let _ = writeln!(
            s,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{colour}"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{0:.1}" y="{1:.1}" fill="{colour}">{2} ({3:.2} s, {4:.3})</text>"#,
            lx + 4.0,
            ly + 4.0,
            escape(&p.label),
            p.wall,
            p.size_ratio
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
