//! `shadergan game`: the minimax game V(x, y) = xy played by gradient methods. Each method's
//! trajectory is checked against its closed form (the module doc's table), and the command
//! against its files and one-line errors. Host only: no GPU needed.

use std::process::Command;

use shadergan::game::{play, GameConfig, Method};

fn config(lr: f64, steps: usize, methods: Vec<Method>) -> GameConfig {
    GameConfig { lr, steps, start: (0.7, -1.3), gamma: 1.0, methods }
}

fn dist_sq((x, y): (f64, f64)) -> f64 {
    x * x + y * y
}

#[test]
fn scaled_rotations_change_the_squared_distance_by_their_factor_every_step() {
    for lr in [0.01, 0.1, 0.3, 0.9] {
        for method in [Method::Simultaneous, Method::Extragradient, Method::Consensus] {
            let cfg = config(lr, 200, vec![method]);
            let t = &play(&cfg)[0];
            let factor = method.radius_sq_factor(lr, cfg.gamma).unwrap();
            for (i, &p) in t.points.iter().enumerate() {
                let want = dist_sq(cfg.start) * factor.powi(i as i32);
                let rel = (dist_sq(p) - want).abs() / want;
                assert!(rel < 1e-11, "{} lr {lr} step {i}: |p|² {} vs {want}", method.name(), dist_sq(p));
            }
        }
    }
}

#[test]
fn simultaneous_diverges_extragradient_and_consensus_converge() {
    let cfg = config(0.1, 300, Method::ALL.to_vec());
    let plays = play(&cfg);
    let by = |m: Method| plays.iter().find(|t| t.method == m).unwrap();
    assert!(by(Method::Simultaneous).final_over_start() > 4.0);
    assert!(by(Method::Extragradient).final_over_start() < 0.25);
    assert!(by(Method::Consensus).final_over_start() < 1e-10);
    assert_eq!(by(Method::Simultaneous).verdict(cfg.lr, cfg.gamma), "spirals out (diverges)");
    assert_eq!(by(Method::Alternating).verdict(cfg.lr, cfg.gamma), "orbits, never settles");
    assert_eq!(by(Method::Extragradient).verdict(cfg.lr, cfg.gamma), "spirals in (converges)");
    assert_eq!(by(Method::Consensus).verdict(cfg.lr, cfg.gamma), "spirals in (converges)");
    // Consensus with too large a step overshoots: (1 − ηγ)² + η² > 1.
    assert_eq!(by(Method::Consensus).verdict(1.5, 1.0), "spirals out (diverges)");
}

#[test]
fn alternating_orbits_on_its_conserved_ellipse_and_never_settles() {
    for lr in [0.05, 0.1, 0.5, 1.5] {
        let cfg = config(lr, 20_000, vec![Method::Alternating]);
        let t = &play(&cfg)[0];
        let invariant = |(x, y): (f64, f64)| x * x + y * y + lr * x * y;
        let q0 = invariant(cfg.start);
        for (i, &p) in t.points.iter().enumerate() {
            assert!((invariant(p) - q0).abs() < 1e-9 * q0, "lr {lr} step {i}: x²+y²+ηxy drifted from {q0} to {}", invariant(p));
        }
        // On that ellipse the distance to (0, 0) stays between √(Q/(1+η/2)) and √(Q/(1−η/2)):
        // bounded away from the equilibrium for ever.
        let (lo, hi) = ((q0 / (1.0 + lr / 2.0)).sqrt(), (q0 / (1.0 - lr / 2.0)).sqrt());
        let tail = &t.points[t.points.len() - 2_000..];
        let (min, max) = tail.iter().map(|&p| dist_sq(p).sqrt()).fold((f64::MAX, 0f64), |(a, b), r| (a.min(r), b.max(r)));
        assert!(min >= lo * (1.0 - 1e-9) && max <= hi * (1.0 + 1e-9), "lr {lr}: distance in [{min}, {max}], ellipse [{lo}, {hi}]");
        assert!(min > 0.5 * dist_sq(cfg.start).sqrt() * (1.0 - lr / 2.0), "lr {lr}: came near the equilibrium ({min})");
    }
    // From η = 2 on the step is hyperbolic: it diverges.
    let cfg = config(2.5, 40, vec![Method::Alternating]);
    let t = &play(&cfg)[0];
    assert!(t.final_over_start() > 1e6);
    assert_eq!(t.verdict(2.5, 1.0), "diverges");
}

#[test]
fn a_single_step_from_a_far_start_keeps_the_closed_forms() {
    let cfg = GameConfig { lr: 0.2, steps: 1, start: (1e6, -3e-4), gamma: 0.5, methods: Method::ALL.to_vec() };
    for t in play(&cfg) {
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.points[0], cfg.start);
        if let Some(f) = t.method.radius_sq_factor(cfg.lr, cfg.gamma) {
            let rel = (dist_sq(t.points[1]) / dist_sq(cfg.start) - f).abs() / f;
            assert!(rel < 1e-12, "{}: {rel}", t.method.name());
        }
    }
}

fn shadergan(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shadergan")).args(args).output().unwrap()
}

#[test]
fn game_command_writes_the_csv_and_the_plot() {
    let dir = std::env::temp_dir().join(format!("shadergan-game-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let o = shadergan(&["game", "--steps", "50", "--start", "-1,2", "--out", out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for (method, verdict) in [
        ("simultaneous", "spirals out"),
        ("alternating", "orbits, never settles"),
        ("extragradient", "spirals in"),
        ("consensus", "spirals in"),
    ] {
        let line = stdout.lines().find(|l| l.starts_with(method)).unwrap_or_else(|| panic!("no {method} row in:\n{stdout}"));
        assert!(line.contains(verdict), "{line}");
    }
    let csv = std::fs::read_to_string(dir.join("game.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "method,iteration,x,y,xy,distance");
    assert_eq!(lines.len(), 1 + 4 * 51);
    assert_eq!(lines[1], "simultaneous,0,-1.0,2.0,-2.0,2.23606797749979");
    // Row 2 is one simultaneous step: (x + ηy, y − ηx) with η = 0.1.
    let row: Vec<f64> = lines[2].split(',').skip(2).map(|v| v.parse().unwrap()).collect();
    assert!((row[0] - (-0.8)).abs() < 1e-15 && (row[1] - 2.1).abs() < 1e-15 && (row[2] - row[0] * row[1]).abs() < 1e-15);
    let png = image::open(dir.join("game.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 720));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn game_bad_flags_are_one_line_errors_naming_the_flag() {
    for (args, flag) in [
        (vec!["game", "--lr", "0"], "--lr"),
        (vec!["game", "--lr", "-1"], "--lr"),
        (vec!["game", "--steps", "0"], "--steps"),
        (vec!["game", "--start", "0,0"], "--start"),
        (vec!["game", "--start", "1"], "--start"),
        (vec!["game", "--start", "1,nan"], "--start"),
        (vec!["game", "--gamma", "-1"], "--gamma"),
        (vec!["game", "--methods", "adam"], "--methods"),
    ] {
        let o = shadergan(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(flag), "{args:?}: {err}");
    }
}
