//! The kriging example's figures (the tutorial's two, and with `--fit` a map of the posterior
//! standard deviation), drawn like the KeOps tutorial's matplotlib ones with `plotters` on an
//! in-memory RGB bitmap, text in the bundled DejaVu Sans (examples/assets), and
//! written as PNG by the `png` crate.

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// DejaVu Sans, matplotlib's default font (license: examples/assets/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// matplotlib's first colour of the default cycle, "C0".
const C0: RGBColor = RGBColor(0x1f, 0x77, 0xb4);

/// Renders `draw` into a `w x h` white bitmap and writes it as an 8-bit RGB PNG.
fn render(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Result<()> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are the committed TTF: parsing them cannot fail at run time unless the file is
        // replaced by something that is not a font, which the figure's missing labels would show.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(())
}

/// A chart on `[0, 1] x [0, 1]` with matplotlib-like ticks (0.0, 0.2, ..., 1.0) and a frame.
fn unit_square<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    Ok(chart)
}

/// Axes, ticks and labels, drawn last so that they lie on top of the data.
fn frame(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<()> {
    let fmt = |v: &f64| format!("{v:.1}");
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style((FAMILY, 14))
        .draw()?;
    chart.plotting_area().draw(&Rectangle::new(
        [(0.0, 0.0), (1.0, 1.0)],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

/// The polyline `pts` cut to `lo <= y <= hi`: the runs inside, with the crossing points added.
fn clip_y(pts: &[(f64, f64)], lo: f64, hi: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (lo..=hi).contains(&y);
    let cross = |(x0, y0): (f64, f64), (x1, y1): (f64, f64), y: f64| {
        (x0 + (x1 - x0) * (y - y0) / (y1 - y0), y)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (k, &p) in pts.iter().enumerate() {
        let prev = k.checked_sub(1).map(|k| pts[k]);
        match (prev, inside(p.1)) {
            (_, true) if !cur.is_empty() => cur.push(p),
            (Some(q), true) => {
                // Entering: start at the boundary the previous point was beyond.
                cur.push(cross(q, p, if q.1 > hi { hi } else { lo }));
                cur.push(p);
            }
            (None, true) => cur.push(p),
            (Some(q), false) => {
                if inside(q.1) {
                    cur.push(cross(q, p, if p.1 > hi { hi } else { lo }));
                    runs.push(std::mem::take(&mut cur));
                } else if (q.1 - hi) * (p.1 - hi) < 0.0 || (q.1 - lo) * (p.1 - lo) < 0.0 {
                    // Jumps over the whole band between two samples.
                    let (a, b) = if q.1 > p.1 { (hi, lo) } else { (lo, hi) };
                    runs.push(vec![cross(q, p, a), cross(q, p, b)]);
                }
            }
            (None, false) => {}
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

/// Figure 1 of the tutorial: the noisy samples `(x, b)` as small dots and the fitted mean
/// `(t, mean)` as a red curve, on `[0, 1] x [0, 1]` (800 x 600 pixels, matplotlib's 8 x 6 inches).
/// With `std` (a Gaussian process' posterior standard deviation at `t`), the band `mean +- 2 std`
/// is shaded under the samples and the curve.
pub fn plot_1d(
    path: &Path,
    x: &[f64],
    b: &[f64],
    t: &[f64],
    mean: &[f64],
    std: Option<&[f64]>,
) -> Result<()> {
    render(path, (800, 600), |root| {
        let mut chart = unit_square(root)?;
        let unit = 0.0..=1.0;
        if let Some(std) = std {
            chart.draw_series(std::iter::once(band(t, mean, std)))?;
        }
        chart.draw_series(
            x.iter()
                .zip(b)
                .filter(|(x, b)| unit.contains(*x) && unit.contains(*b))
                .map(|(&x, &b)| Circle::new((x, b), 1, C0.filled())),
        )?;
        let curve: Vec<(f64, f64)> = t.iter().copied().zip(mean.iter().copied()).collect();
        for run in clip_y(&curve, 0.0, 1.0) {
            chart.draw_series(LineSeries::new(run, RED.stroke_width(2)))?;
        }
        frame(&mut chart)
    })
}

/// The band `mean +- 2 std` over `t` as one polygon (the upper edge forwards, the lower one
/// back), cut to the figure's `0 <= y <= 1` (each vertex clamped: exact up to the sampling).
fn band(t: &[f64], mean: &[f64], std: &[f64]) -> Polygon<(f64, f64)> {
    let edge = |k: usize, sign: f64| (t[k], (mean[k] + sign * 2.0 * std[k]).clamp(0.0, 1.0));
    let upper = (0..t.len()).map(|k| edge(k, 1.0));
    let lower = (0..t.len()).rev().map(|k| edge(k, -1.0));
    Polygon::new(
        upper.chain(lower).collect::<Vec<_>>(),
        RED.mix(0.2).filled(),
    )
}

/// matplotlib's "coolwarm" (Moreland's CoolWarmFloat33): 33 control points at k / 32.
const COOLWARM: [[f64; 3]; 33] = [
    [0.2298057, 0.298717966, 0.753683153],
    [0.26623388, 0.353094838, 0.801466763],
    [0.30386891, 0.406535296, 0.84495867],
    [0.342804478, 0.458757618, 0.883725899],
    [0.38301334, 0.50941904, 0.917387822],
    [0.424369608, 0.558148092, 0.945619588],
    [0.46666708, 0.604562568, 0.968154911],
    [0.509635204, 0.648280772, 0.98478814],
    [0.552953156, 0.688929332, 0.995375608],
    [0.596262162, 0.726149107, 0.999836203],
    [0.639176211, 0.759599947, 0.998151185],
    [0.681291281, 0.788964712, 0.990363227],
    [0.722193294, 0.813952739, 0.976574709],
    [0.761464949, 0.834302879, 0.956945269],
    [0.798691636, 0.849786142, 0.931688648],
    [0.833466556, 0.860207984, 0.901068838],
    [0.865395197, 0.86541021, 0.865395561],
    [0.897787179, 0.848937047, 0.820880546],
    [0.924127593, 0.827384882, 0.774508472],
    [0.944468518, 0.800927443, 0.726736146],
    [0.958852946, 0.769767752, 0.678007945],
    [0.96732803, 0.734132809, 0.628751763],
    [0.969954137, 0.694266682, 0.579375448],
    [0.966811177, 0.650421156, 0.530263762],
    [0.958003065, 0.602842431, 0.481775914],
    [0.943660866, 0.551750968, 0.434243684],
    [0.923944917, 0.49730856, 0.387970225],
    [0.89904617, 0.439559467, 0.343229596],
    [0.869186849, 0.378313092, 0.300267182],
    [0.834620542, 0.312874446, 0.259301199],
    [0.795631745, 0.24128379, 0.220525627],
    [0.752534934, 0.157246067, 0.184115123],
    [0.705673158, 0.01555616, 0.150232812],
];

/// matplotlib's "viridis" at k / 7 (the control points of plotters' `ViridisRGB`).
const VIRIDIS: [[f64; 3]; 8] = [
    [68.0 / 255.0, 1.0 / 255.0, 84.0 / 255.0],
    [70.0 / 255.0, 50.0 / 255.0, 127.0 / 255.0],
    [54.0 / 255.0, 92.0 / 255.0, 141.0 / 255.0],
    [39.0 / 255.0, 127.0 / 255.0, 143.0 / 255.0],
    [31.0 / 255.0, 162.0 / 255.0, 136.0 / 255.0],
    [74.0 / 255.0, 194.0 / 255.0, 110.0 / 255.0],
    [160.0 / 255.0, 219.0 / 255.0, 57.0 / 255.0],
    [254.0 / 255.0, 232.0 / 255.0, 37.0 / 255.0],
];

/// matplotlib's "bwr": blue, white, red.
const BWR: [[f64; 3]; 3] = [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]];

/// The colour at `s` in `[0, 1]` (clamped) of a map given by equally spaced control points.
fn colormap(points: &[[f64; 3]], s: f64) -> RGBColor {
    let s = if s.is_nan() { 0.5 } else { s.clamp(0.0, 1.0) };
    let pos = s * (points.len() - 1) as f64;
    let k = (pos.floor() as usize).min(points.len() - 2);
    let w = pos - k as f64;
    let c = |ch: usize| {
        let v = points[k][ch] * (1.0 - w) + points[k + 1][ch] * w;
        (v * 255.0).round() as u8
    };
    RGBColor(c(0), c(1), c(2))
}

/// The smallest and largest finite values (matplotlib's default colour normalisation).
fn range(v: &[f64]) -> (f64, f64) {
    let (lo, hi) = v
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// The grid `field[i * n + j]`, sampled at `(u, v) = (i, j) / (n - 1)`, bilinearly interpolated at
/// `(u, v)` in `[0, 1]^2`.
fn bilinear(field: &[f64], n: usize, u: f64, v: f64) -> f64 {
    let last = (n - 1) as f64;
    let (pu, pv) = (u.clamp(0.0, 1.0) * last, v.clamp(0.0, 1.0) * last);
    let (i, j) = ((pu as usize).min(n - 2), (pv as usize).min(n - 2));
    let (wu, wv) = (pu - i as f64, pv - j as f64);
    let at = |i: usize, j: usize| field[i * n + j];
    (at(i, j) * (1.0 - wv) + at(i, j + 1) * wv) * (1.0 - wu)
        + (at(i + 1, j) * (1.0 - wv) + at(i + 1, j + 1) * wv) * wu
}

/// Paints the chart's plotting area with `field` (an `n x n` grid, see [`plot_2d`]) through
/// `cmap`, `lo` and `hi` at its ends: one pixel at a time, at each pixel's centre.
fn paint(
    root: &DrawingArea<BitMapBackend, Shift>,
    chart: &ChartContext<'_, BitMapBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    field: &[f64],
    n: usize,
    cmap: &[[f64; 3]],
    (lo, hi): (f64, f64),
) -> Result<()> {
    let area = chart.plotting_area();
    let (px, py) = area.get_pixel_range();
    let (w, h) = ((px.end - px.start) as f64, (py.end - py.start) as f64);
    for yp in py.clone() {
        // Pixel rows go down, y goes up.
        let v = 1.0 - ((yp - py.start) as f64 + 0.5) / h;
        for xp in px.clone() {
            let u = ((xp - px.start) as f64 + 0.5) / w;
            let value = bilinear(field, n, u, v);
            root.draw_pixel((xp, yp), &colormap(cmap, (value - lo) / (hi - lo)))?;
        }
    }
    Ok(())
}

/// Figure 2 of the tutorial: the predicted field in the background (coolwarm) and the samples on
/// top, coloured by their values `b` (bwr), on `[0, 1]^2` with x horizontal and y upwards
/// (800 x 800 pixels).
///
/// `field` holds `n x n` values on the grid `linspace(0, 1, n)^2` in meshgrid `'ij'` order:
/// `field[i * n + j]` is the value at `x = i / (n - 1)`, `y = j / (n - 1)`.
pub fn plot_2d(path: &Path, points: &[[f64; 2]], b: &[f64], field: &[f64], n: usize) -> Result<()> {
    assert!(n >= 2 && field.len() == n * n, "field must be n x n");
    render(path, (800, 800), |root| {
        let mut chart = unit_square(root)?;
        paint(root, &chart, field, n, &COOLWARM, range(field))?;
        let (bmin, bmax) = range(b);
        let unit = 0.0..=1.0;
        chart.draw_series(
            points
                .iter()
                .zip(b)
                .filter(|(p, _)| unit.contains(&p[0]) && unit.contains(&p[1]))
                .map(|(p, &v)| {
                    let c = colormap(&BWR, (v - bmin) / (bmax - bmin));
                    Circle::new((p[0], p[1]), 2, c.filled())
                }),
        )?;
        frame(&mut chart)
    })
}

/// A map of a Gaussian process' posterior standard deviation: `field` on the grid of
/// [`plot_2d`] (viridis, its smallest value dark), with a colour bar on the right
/// (900 x 800 pixels).
pub fn plot_std(path: &Path, field: &[f64], n: usize) -> Result<()> {
    assert!(n >= 2 && field.len() == n * n, "field must be n x n");
    render(path, (900, 800), |root| {
        let (left, right) = root.split_horizontally(800);
        let mut chart = unit_square(&left)?;
        let (lo, hi) = range(field);
        paint(&left, &chart, field, n, &VIRIDIS, (lo, hi))?;
        frame(&mut chart)?;
        colour_bar(&right, &VIRIDIS, (lo, hi))
    })
}

/// A vertical colour bar for `cmap` from `lo` (bottom) to `hi`, ticks on its right, aligned with
/// the plotting area of [`unit_square`].
fn colour_bar(
    area: &DrawingArea<BitMapBackend, Shift>,
    cmap: &[[f64; 3]],
    (lo, hi): (f64, f64),
) -> Result<()> {
    let mut bar = ChartBuilder::on(area)
        .margin(12)
        .margin_left(0)
        .x_label_area_size(32)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, lo..hi)?;
    const STEPS: usize = 256;
    let step = (hi - lo) / STEPS as f64;
    bar.draw_series((0..STEPS).map(|k| {
        let y = lo + k as f64 * step;
        let c = colormap(cmap, (k as f64 + 0.5) / STEPS as f64);
        Rectangle::new([(0.0, y), (1.0, y + step)], c.filled())
    }))?;
    // Enough decimals to tell the ticks (about a sixth of the range apart) from each other.
    let decimals = (1.0 - ((hi - lo) / 6.0).log10().floor()).clamp(0.0, 12.0) as usize;
    // Two spaces apart from the bar.
    let fmt = |v: &f64| format!("  {v:.decimals$}");
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&fmt)
        .label_style((FAMILY, 14))
        .draw()?;
    bar.plotting_area().draw(&Rectangle::new(
        [(0.0, lo), (1.0, hi)],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}
