//! The loss curves as a PNG: loss_D and loss_G against the step (top, with the penalty and
//! ACGAN's class losses dashed where a run has them), D(x) and D(G(z)) (bottom). Drawn with plotters into an RGB buffer; text uses the DejaVu Sans font bundled in
//! assets/fonts (so no system fonts are needed), PNG encoding and the atomic write are ours.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TrueType file compiled in; failing here would be a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One logged step.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub step: u64,
    pub loss_d: f32,
    pub loss_g: f32,
    pub d_x: f32,
    pub d_g_z: f32,
    /// What some runs add to the loss panel, as dashed lines: the gradient penalty (--gp,
    /// --r1; not in loss_D), and ACGAN's class cross-entropies on the real batch and in G's
    /// step (in loss_D and loss_G).
    pub penalty: Option<f32>,
    pub c_real: Option<f32>,
    pub c_g: Option<f32>,
}

impl Point {
    /// The point of a metrics.jsonl line (None for a line without losses: a score line).
    pub fn of_metrics(v: &serde_json::Value) -> Option<Point> {
        v.get("loss_D")?;
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN) as f32;
        let opt = |k: &str| v.get(k).and_then(|x| x.as_f64()).map(|x| x as f32);
        Some(Point { step: v["step"].as_u64().unwrap_or(0), loss_d: f("loss_D"), loss_g: f("loss_G"), d_x: f("D_x"), d_g_z: f("D_G_z1"), penalty: opt("penalty"), c_real: opt("C_real"), c_g: opt("C_G") })
    }
}

/// A dashed line of the loss panel: its legend, the value it reads, its colour.
type Extra = (&'static str, fn(&Point) -> Option<f32>, RGBColor);

fn draw(buf: &mut [u8], w: u32, h: u32, points: &[Point], evals: &[(u64, f64)], title: &str) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    // With --eval-every scores, a third panel below: the Fréchet distance against the step.
    let (root, scores) = if evals.is_empty() { (root.clone(), None) } else { let (a, b) = root.split_vertically(h * 3 / 4); (a, Some(b)) };
    let h = if evals.is_empty() { h } else { h * 3 / 4 };
    if let Some(area) = scores {
        let x_max = points.last().map_or(1, |p| p.step).max(evals.last().map_or(1, |e| e.0)).max(1);
        let y_max = evals.iter().map(|e| e.1).filter(|v| v.is_finite()).fold(1e-3f64, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&area).margin(12).x_label_area_size(30).y_label_area_size(50).build_cartesian_2d(0u64..x_max, 0f64..y_max)?;
        chart.configure_mesh().x_desc("step").y_desc("FD").label_style(("sans-serif", 13)).draw()?;
        chart
            .draw_series(LineSeries::new(evals.iter().copied(), BLACK.stroke_width(2)))?
            .label("Fréchet distance (--eval-every)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        chart.draw_series(evals.iter().map(|&(s, v)| Circle::new((s, v), 3, BLACK.filled())))?;
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).label_font(("sans-serif", 13)).draw()?;
    }
    let (top, bottom) = root.split_vertically(h * 3 / 5);
    let x_max = points.last().map_or(1, |p| p.step).max(1);
    let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
    let extras: [Extra; 3] = [("penalty", |p| p.penalty, BLACK), ("C_real (class loss)", |p| p.c_real, CYAN), ("C_G (class loss)", |p| p.c_g, RGBColor(255, 140, 0))];
    let extra_max = points.iter().flat_map(|p| extras.iter().filter_map(move |(_, get, _)| get(p))).map(finite).fold(0.0f32, f32::max);
    let y_max = points.iter().map(|p| finite(p.loss_d).max(finite(p.loss_g))).fold(0.1f32, f32::max).max(extra_max) * 1.05;
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0u64..x_max, 0f32..y_max)?;
    chart.configure_mesh().x_desc("step").y_desc("loss").label_style(("sans-serif", 13)).draw()?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.step, finite(p.loss_d))), BLUE.stroke_width(2)))?
        .label("loss_D")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.step, finite(p.loss_g))), RED.stroke_width(2)))?
        .label("loss_G")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    for (name, get, color) in extras {
        if points.iter().any(|p| get(p).is_some()) {
            let style = color.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(points.iter().filter_map(|p| get(p).map(|v| (p.step, finite(v)))), 6, 4, style))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).label_font(("sans-serif", 13)).draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0u64..x_max, 0f32..1f32)?;
    chart.configure_mesh().x_desc("step").y_desc("D output").label_style(("sans-serif", 13)).draw()?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.step, finite(p.d_x))), GREEN.stroke_width(2)))?
        .label("D(x)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.step, finite(p.d_g_z))), MAGENTA.stroke_width(2)))?
        .label("D(G(z))")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], MAGENTA.stroke_width(2)));
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).label_font(("sans-serif", 13)).draw()?;
    root.present()?;
    Ok(())
}

/// Write the plot of `points` to `path` (PNG, 900×640).
/// With `evals` (step, FD), a third panel of the scores.
pub fn save_loss_plot(path: &Path, points: &[Point], evals: &[(u64, f64)], title: &str) -> Result<()> {
    let (w, h) = (900u32, if evals.is_empty() { 640u32 } else { 853 });
    render_png(path, w, h, |buf| draw(buf, w, h, points, evals, title))
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Run `draw` on a w×h RGB buffer (fonts registered; `draw` fills the background) and write it to `path`
/// as a PNG, atomically. A plotting or encoding failure is an error naming `path`.
pub(crate) fn render_png(path: &Path, w: u32, h: u32, draw: impl FnOnce(&mut [u8]) -> DrawResult) -> Result<()> {
    register_font();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    draw(&mut buf).map_err(|e| Error::bad_file(path, format!("plotting failed: {e}")))?;
    let img = image::RgbImage::from_raw(w, h, buf).expect("buffer is w·h·3 bytes");
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| Error::bad_file(path, format!("PNG encoding failed: {e}")))?;
    atomic_write(path, &bytes)
}

/// The birthday-paradox curve: P(a duplicate among s samples) against s (log₂ axis), with
/// the ½ line, to `path` (PNG, 720×440).
pub fn save_birthday_plot(path: &Path, curve: &[(usize, f64)], title: &str) -> Result<()> {
    let (w, h) = (720u32, 440u32);
    let draw = |buf: &mut [u8]| -> DrawResult {
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let lg = |s: usize| (s.max(1) as f64).log2();
        let (x0, x1) = (curve.first().map_or(1.0, |p| lg(p.0)), curve.last().map_or(2.0, |p| lg(p.0)).max(curve.first().map_or(1.0, |p| lg(p.0)) + 1.0));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_labels(curve.len().max(2))
            .x_desc("samples s (log scale)")
            .y_desc("P(a duplicate pair)")
            .x_label_formatter(&|v| format!("{}", v.exp2().round()))
            .label_style(("sans-serif", 13))
            .draw()?;
        chart.draw_series(LineSeries::new([(x0, 0.5), (x1, 0.5)], BLACK.mix(0.4).stroke_width(1)))?;
        chart.draw_series(LineSeries::new(curve.iter().map(|&(s, p)| (lg(s), p)), BLUE.stroke_width(2)))?;
        chart.draw_series(curve.iter().map(|&(s, p)| Circle::new((lg(s), p), 4, BLUE.filled())))?;
        root.present()?;
        Ok(())
    };
    render_png(path, w, h, draw)
}

#[cfg(test)]
mod tests {
    use super::Point;

    #[test]
    fn a_metrics_line_gives_its_point_with_what_the_run_logged() {
        let line = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let p = Point::of_metrics(&line(r#"{"step":4,"loss_D":1.5,"loss_G":0.5,"D_x":0.6,"D_G_z1":0.4,"penalty":0.25,"C_real":2.0,"C_G":1.0}"#)).unwrap();
        assert_eq!((p.step, p.loss_d, p.d_g_z, p.penalty, p.c_real, p.c_g), (4, 1.5, 0.4, Some(0.25), Some(2.0), Some(1.0)));
        let plain = Point::of_metrics(&line(r#"{"step":6,"loss_D":1.0,"loss_G":0.7,"D_x":0.5,"D_G_z1":0.5}"#)).unwrap();
        assert_eq!((plain.penalty, plain.c_real, plain.c_g), (None, None, None));
        // A score line (--eval-every) has no losses.
        assert!(Point::of_metrics(&line(r#"{"step":6,"FD":12.5}"#)).is_none());
    }
}
