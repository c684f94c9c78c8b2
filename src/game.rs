//! The two-player game V(x, y) = x·y, min over y, max over x — the lectures' example of why
//! gradient play in a minimax game need not converge. Its only equilibrium is (0, 0); the game's
//! vector field (x ascends V, y descends it) is v(x, y) = (∂V/∂x, −∂V/∂y) = (y, −x), a pure
//! rotation, so following it never gets nearer the equilibrium:
//!
//! | method | one step (learning rate η) | squared distance to (0, 0) per step |
//! |---|---|---|
//! | simultaneous GD | (x, y) ← (x + ηy, y − ηx) | × (1 + η²): spirals **out** |
//! | alternating GD | x ← x + ηy, then y ← y − ηx (the new x) | orbits forever: x² + y² + ηxy is conserved |
//! | extragradient (Korpelevich 1976) | look ahead with a simultaneous step, then step from (x, y) with the look-ahead's field | × (1 − η² + η⁴): converges |
//! | consensus optimisation (Mescheder et al. 2017) | v − γ∇½‖v‖²: (x, y) ← (x + η(y − γx), y − η(x + γy)) | × ((1 − ηγ)² + η²): converges when that is below 1 |
//!
//! A GAN's alternating D/G updates are the second row on a non-linear game. Two scalars are
//! played on the host in f64: a GPU dispatch per step would only add latency.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use crate::train::plot::render_png;

/// How the two players update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Simultaneous,
    Alternating,
    Extragradient,
    Consensus,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Simultaneous, Method::Alternating, Method::Extragradient, Method::Consensus];

    pub fn name(self) -> &'static str {
        match self {
            Method::Simultaneous => "simultaneous",
            Method::Alternating => "alternating",
            Method::Extragradient => "extragradient",
            Method::Consensus => "consensus",
        }
    }

    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The factor by which x² + y² changes per step, exactly, for the methods whose step is a
    /// scaled rotation; `None` for alternating GD, whose step is not (it conserves
    /// x² + y² + ηxy instead).
    pub fn radius_sq_factor(self, lr: f64, gamma: f64) -> Option<f64> {
        match self {
            Method::Simultaneous => Some(1.0 + lr * lr),
            Method::Alternating => None,
            Method::Extragradient => Some(1.0 - lr * lr + lr.powi(4)),
            Method::Consensus => Some((1.0 - lr * gamma).powi(2) + lr * lr),
        }
    }

    /// One step from (x, y).
    pub fn step(self, (x, y): (f64, f64), lr: f64, gamma: f64) -> (f64, f64) {
        match self {
            Method::Simultaneous => (x + lr * y, y - lr * x),
            Method::Alternating => {
                let x1 = x + lr * y;
                (x1, y - lr * x1)
            }
            Method::Extragradient => {
                let (xl, yl) = (x + lr * y, y - lr * x);
                (x + lr * yl, y - lr * xl)
            }
            Method::Consensus => (x + lr * (y - gamma * x), y - lr * (x + gamma * y)),
        }
    }
}

/// The settings of one play.
#[derive(Clone, Debug)]
pub struct GameConfig {
    pub lr: f64,
    pub steps: usize,
    pub start: (f64, f64),
    /// Consensus optimisation's weight γ on ½‖v‖².
    pub gamma: f64,
    pub methods: Vec<Method>,
}

/// The most iterations `--steps` accepts: the CSV has one line per iteration and method.
pub const MAX_STEPS: usize = 100_000;

impl GameConfig {
    /// One-line errors naming the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("--lr", format!("must be a positive number, got {}; try --lr 0.1", self.lr)));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(Error::invalid("--steps", format!("must be between 1 and {MAX_STEPS}, got {}", self.steps)));
        }
        let (x, y) = self.start;
        if !(x.is_finite() && y.is_finite()) {
            return Err(Error::invalid("--start", "must be two finite numbers X,Y, e.g. --start 1,1"));
        }
        if x == 0.0 && y == 0.0 {
            return Err(Error::invalid("--start", "0,0 is the equilibrium itself, where every method stays; start elsewhere, e.g. --start 1,1"));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(Error::invalid("--gamma", format!("must be a number ≥ 0, got {}", self.gamma)));
        }
        if self.methods.is_empty() {
            return Err(Error::invalid("--methods", "name at least one of simultaneous, alternating, extragradient, consensus"));
        }
        Ok(())
    }
}

/// One method's play: the points (x, y) at iterations 0..=steps.
#[derive(Clone, Debug)]
pub struct Trajectory {
    pub method: Method,
    pub points: Vec<(f64, f64)>,
}

impl Trajectory {
    fn radius(p: (f64, f64)) -> f64 {
        p.0.hypot(p.1)
    }

    /// Distance to the equilibrium at the end over the distance at the start.
    pub fn final_over_start(&self) -> f64 {
        Self::radius(*self.points.last().expect("a trajectory has its start")) / Self::radius(self.points[0])
    }

    /// What the theory says this play does (the table in the module doc); the measured
    /// `final_over_start` agrees with it (tested).
    pub fn verdict(&self, lr: f64, gamma: f64) -> &'static str {
        match self.method.radius_sq_factor(lr, gamma) {
            // Alternating GD's step has determinant 1 and trace 2 − η²: a rotation-like
            // (elliptic) map for η < 2, an expanding (hyperbolic) one from η = 2 on.
            None if lr < 2.0 => "orbits, never settles",
            None => "diverges",
            Some(f) if f > 1.0 => "spirals out (diverges)",
            Some(f) if f < 1.0 => "spirals in (converges)",
            Some(_) => "circles at a fixed distance",
        }
    }
}

/// Play every method of `cfg` from its start.
pub fn play(cfg: &GameConfig) -> Vec<Trajectory> {
    cfg.methods
        .iter()
        .map(|&method| {
            let mut points = Vec::with_capacity(cfg.steps + 1);
            let mut p = cfg.start;
            points.push(p);
            for _ in 0..cfg.steps {
                p = method.step(p, cfg.lr, cfg.gamma);
                points.push(p);
            }
            Trajectory { method, points }
        })
        .collect()
}

/// `method,iteration,x,y,xy,distance` — one line per method and iteration, written atomically.
pub fn write_csv(path: &Path, plays: &[Trajectory]) -> Result<()> {
    let mut s = String::from("method,iteration,x,y,xy,distance\n");
    for t in plays {
        for (i, &(x, y)) in t.points.iter().enumerate() {
            s.push_str(&format!("{},{i},{x:?},{y:?},{:?},{:?}\n", t.method.name(), x * y, x.hypot(y)));
        }
    }
    atomic_write(path, s.as_bytes())
}

fn colour(m: Method) -> RGBColor {
    match m {
        Method::Simultaneous => RGBColor(214, 39, 40),
        Method::Alternating => RGBColor(31, 119, 180),
        Method::Extragradient => RGBColor(44, 160, 44),
        Method::Consensus => RGBColor(148, 103, 189),
    }
}

/// The plot: the paths in the (x, y) plane on the left; x, y and xy against the iteration on
/// the right, one colour per method (PNG, 1200×720).
pub fn save_plot(path: &Path, plays: &[Trajectory], cfg: &GameConfig) -> Result<()> {
    let (w, h) = (1200u32, 720u32);
    let title = format!("V(x, y) = xy, min over y, max over x — η = {}, start ({}, {})", cfg.lr, cfg.start.0, cfg.start.1);
    render_png(path, w, h, |buf| {
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&title, ("sans-serif", 20))?;
        let (left, right) = root.split_horizontally(h as i32 - 40);
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let extent = plays
            .iter()
            .flat_map(|t| t.points.iter())
            .map(|&(x, y)| finite(x).abs().max(finite(y).abs()))
            .fold(1e-9f64, f64::max)
            * 1.05;
        let mut plane = ChartBuilder::on(&left)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(-extent..extent, -extent..extent)?;
        plane.configure_mesh().x_desc("x (maximises xy)").y_desc("y (minimises xy)").label_style(("sans-serif", 13)).draw()?;
        for t in plays {
            let c = colour(t.method);
            plane
                .draw_series(LineSeries::new(t.points.iter().map(|&(x, y)| (finite(x), finite(y))), c.stroke_width(2)))?
                .label(t.method.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        plane.draw_series([Circle::new(cfg.start, 5, BLACK.filled())])?;
        plane.draw_series([Cross::new((0.0, 0.0), 6, BLACK.stroke_width(2))])?;
        plane.configure_series_labels().position(SeriesLabelPosition::LowerRight).border_style(BLACK).background_style(WHITE.mix(0.8)).label_font(("sans-serif", 13)).draw()?;

        let panels = right.split_evenly((3, 1));
        let steps = cfg.steps as f64;
        type Coordinate = fn((f64, f64)) -> f64;
        let series: [(&str, Coordinate); 3] = [("x", |p| p.0), ("y", |p| p.1), ("xy", |p| p.0 * p.1)];
        for (area, (name, f)) in panels.iter().zip(series) {
            let lim = plays.iter().flat_map(|t| t.points.iter()).map(|&p| finite(f(p)).abs()).fold(1e-9f64, f64::max) * 1.05;
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .margin_right(24)
                .x_label_area_size(34)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..steps, -lim..lim)?;
            chart.configure_mesh().x_desc("iteration").y_desc(name).x_label_formatter(&|v| format!("{v:.0}")).label_style(("sans-serif", 12)).draw()?;
            for t in plays {
                let c = colour(t.method);
                chart.draw_series(LineSeries::new(t.points.iter().enumerate().map(|(i, &p)| (i as f64, finite(f(p)))), c.stroke_width(2)))?;
            }
        }
        root.present()?;
        Ok(())
    })
}
