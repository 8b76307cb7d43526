//! Line plots as PNG (a metric against kimg): an SVG drawn here and rasterised with resvg.
//!
//! resvg is built without its text stack (fonts would have to be found on every machine), so
//! the axis labels are drawn as strokes: digits, '.', '-' and 'e' in a seven-segment style,
//! enough for tick values. Hand-written because no plotting crate renders text without a font
//! file either.

use std::fmt::Write as _;
use std::path::Path;

use resvg::{tiny_skia, usvg};

use crate::error::{Error, Result};

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 45.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 50.0;

/// Seven-segment strokes of one character in a 1×2 box (x right, y down), as path data.
fn glyph(c: char) -> &'static str {
    // Seven-segment shapes, drawn as one path each.
    match c {
        '0' => "M0 0H1V2H0Z",
        '1' => "M1 0V2",
        '2' => "M0 0H1V1H0V2H1",
        '3' => "M0 0H1V2H0M0 1H1",
        '4' => "M0 0V1H1M1 0V2",
        '5' => "M1 0H0V1H1V2H0",
        '6' => "M1 0H0V2H1V1H0",
        '7' => "M0 0H1V2",
        '8' => "M0 0H1V2H0ZM0 1H1",
        '9' => "M1 1H0V0H1V2H0",
        '.' => "M0.4 1.9H0.6V2H0.4Z",
        '-' => "M0 1H1",
        'e' => "M0 1.4H1V1H0V2H1",
        '+' => "M0 1H1M0.5 0.5V1.5",
        _ => "",
    }
}

/// `text` as stroked glyphs with its top-left corner at (x, y), glyphs `size` high.
fn text(svg: &mut String, s: &str, x: f64, y: f64, size: f64) {
    let w = size / 2.0;
    for (i, c) in s.chars().enumerate() {
        let d = glyph(c);
        if d.is_empty() {
            continue;
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" transform="translate({} {y}) scale({w})" fill="none" stroke="black" stroke-width="{}"/>"#,
            x + i as f64 * w * 1.6,
            1.5 / w
        );
    }
}

/// Width of `s` drawn by [`text`].
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size / 2.0 * 1.6
}

/// A tick label: up to 4 significant digits.
fn label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Plot `points` (x, y) as a line with markers: axes with the min/mid/max ticks of both, at
/// 640×400, written as a PNG (atomically).
pub fn line_plot(points: &[(f64, f64)], path: &Path) -> Result<()> {
    if points.is_empty() || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(Error::InvalidArgument(
            "a plot needs at least one point, all finite".into(),
        ));
    }
    let (mut x0, mut x1, mut y0, mut y1) = points.iter().fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if x1 - x0 < 1e-12 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    if y1 - y0 < 1e-12 * y1.abs().max(1.0) {
        y0 -= 0.5 * y0.abs().max(1.0);
        y1 += 0.5 * y1.abs().max(1.0);
    }
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}"><rect width="{W}" height="{H}" fill="white"/>"#
    );
    // Axes and ticks.
    let _ = write!(
        svg,
        r#"<path d="M{LEFT} {TOP}V{}H{}" fill="none" stroke="black" stroke-width="1.5"/>"#,
        H - BOTTOM,
        W - RIGHT
    );
    for k in 0..3 {
        let f = k as f64 / 2.0;
        let (xv, yv) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
        let (tx, ty) = (px(xv), py(yv));
        let _ = write!(
            svg,
            r##"<path d="M{tx} {}v6M{LEFT} {ty}h-6M{tx} {TOP}V{}M{LEFT} {ty}H{}" fill="none" stroke="#999" stroke-width="0.6"/>"##,
            H - BOTTOM,
            H - BOTTOM,
            W - RIGHT
        );
        let (lx, ly) = (label(xv), label(yv));
        text(
            &mut svg,
            &lx,
            tx - text_width(&lx, 14.0) / 2.0,
            H - BOTTOM + 12.0,
            14.0,
        );
        text(
            &mut svg,
            &ly,
            LEFT - 10.0 - text_width(&ly, 14.0),
            ty - 7.0,
            14.0,
        );
    }
    // The line and its points.
    let mut d = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.2} {:.2}",
            if i == 0 { "M" } else { "L" },
            px(x),
            py(y)
        );
    }
    let _ = write!(
        svg,
        r##"<path d="{d}" fill="none" stroke="#1f5fbf" stroke-width="2"/>"##
    );
    for &(x, y) in points {
        let _ = write!(
            svg,
            r##"<circle cx="{:.2}" cy="{:.2}" r="3.5" fill="#1f5fbf"/>"##,
            px(x),
            py(y)
        );
    }
    svg.push_str("</svg>");
    let tree = usvg::Tree::from_str(&svg, &usvg::Options::default())
        .map_err(|e| Error::InvalidArgument(format!("plot SVG: {e}")))?;
    let mut pixmap = tiny_skia::Pixmap::new(W as u32, H as u32)
        .ok_or_else(|| Error::InvalidArgument("cannot make the plot image".into()))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    let rgb: Vec<u8> = pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let img = super::image::Image8 {
        width: W as usize,
        height: H as usize,
        channels: 3,
        pixels: rgb,
    };
    img.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(label(0.0), "0");
        assert_eq!(label(297.2571), "297.3");
        assert_eq!(label(12.0), "12");
        assert_eq!(label(0.0123456), "0.01235");
        assert_eq!(label(1.5e-6), "1.50e-6");
    }

    #[test]
    fn a_plot_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fid.png");
        line_plot(&[(0.0, 300.0), (20.0, 150.0), (40.0, 90.5)], &p).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (640, 400));
        // Some blue line pixels and black axis pixels.
        assert!(img.pixels().any(|p| p.0 == [0x1f, 0x5f, 0xbf]));
        assert!(img.pixels().any(|p| p.0 == [0, 0, 0]));
        assert!(line_plot(&[], &p).is_err());
        assert!(line_plot(&[(0.0, f64::NAN)], &p).is_err());
    }
}
