//! The `shadergan` command: dispatches to devices | check | bench. Every error is printed as
//! one line (`error: ...`) with exit status 1.

mod cli;
mod commands;
mod evaluate;

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches};

use cli::{AdapterArgs, BenchArgs, CheckArgs, Cli, Command, GameArgs};
use shadergan::bench::{bench_matmul, Protocol};
use shadergan::check;
use shadergan::gpu::{self, AdapterChoice, Gpu};
use shadergan::ops::matmul::MatmulKernel;

/// On a headless Linux machine Mesa's drivers try to reach a Wayland display and print
/// "error: XDG_RUNTIME_DIR is invalid or not set" when there is none — lines that look like
/// shadergan's own errors. Give them a private runtime directory when the environment has none.
fn quiet_headless_mesa() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if valid || !cfg!(unix) {
        return;
    }
    let dir = std::env::temp_dir().join("shadergan-runtime");
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if builder.create(&dir).is_ok() || dir.is_dir() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> ExitCode {
    quiet_headless_mesa();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli, &matches) {
        Ok(code) => code,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

fn choice(a: &AdapterArgs) -> AdapterChoice {
    AdapterChoice { name: a.adapter.clone(), backend: a.backend.clone() }
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<ExitCode> {
    match cli.command {
        Command::Train(args) => {
            let sub = matches.subcommand_matches("train").expect("the train subcommand was parsed");
            Ok(if commands::train(&cli.adapter, &args, sub)? { ExitCode::SUCCESS } else { ExitCode::from(commands::INTERRUPTED) })
        }
        Command::Sample(mut args) => {
            let sub = matches.subcommand_matches("sample").expect("the sample subcommand was parsed");
            args.out_given = sub.value_source("out") == Some(clap::parser::ValueSource::CommandLine);
            commands::sample(&cli.adapter, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(args) => {
            evaluate::eval(&cli.adapter, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Game(args) => game(&args),
        Command::Devices => devices(&cli.adapter),
        Command::Check(args) => check_cmd(&cli.adapter, &args),
        Command::Bench(args) => bench_cmd(&cli.adapter, &args),
    }
}

fn game(args: &GameArgs) -> Result<ExitCode> {
    use shadergan::game::{self, GameConfig, Method};
    let methods = args
        .methods
        .iter()
        .map(|name| {
            Method::parse(name).with_context(|| {
                let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method '{name}' for --methods; choose from {}", all.join(", "))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let &[x, y] = args.start.as_slice() else {
        bail!("--start must be two numbers X,Y, e.g. --start 1,1");
    };
    let cfg = GameConfig { lr: args.lr, steps: args.steps, start: (x, y), gamma: args.gamma, methods };
    cfg.validate()?;
    shadergan::fsutil::ensure_writable_dir(&args.out)?;
    let plays = game::play(&cfg);
    println!("min over y, max over x of V(x, y) = xy from ({x}, {y}), η = {}, {} iterations; the equilibrium is (0, 0)", cfg.lr, cfg.steps);
    println!("{:<14} {:>26} {:>16} {:>16}  theory", "method", "final (x, y)", "dist end/start", "dist² per step");
    for t in &plays {
        let (fx, fy) = *t.points.last().expect("a play has its start");
        let per_step = t.method.radius_sq_factor(cfg.lr, cfg.gamma).map_or_else(|| "—".to_string(), |f| format!("×{f:.6}"));
        println!(
            "{:<14} {:>26} {:>16.4e} {:>16}  {}",
            t.method.name(),
            format!("({fx:.4}, {fy:.4})"),
            t.final_over_start(),
            per_step,
            t.verdict(cfg.lr, cfg.gamma)
        );
    }
    let (csv, png) = (args.out.join("game.csv"), args.out.join("game.png"));
    game::write_csv(&csv, &plays)?;
    game::save_plot(&png, &plays, &cfg)?;
    println!("wrote {} and {}", csv.display(), png.display());
    Ok(ExitCode::SUCCESS)
}

fn devices(a: &AdapterArgs) -> Result<ExitCode> {
    let choice = choice(a);
    let all = gpu::list_adapters(&choice)?;
    // No adapter at all, or none matching --adapter: the same one-line error as opening one.
    let chosen = gpu::choose_adapter(&choice)?.index;
    for e in &all {
        let mark = if e.index == chosen { "  <- selected" } else { "" };
        let f = e.adapter.features();
        let sub = if f.contains(wgpu::Features::SUBGROUP) { " subgroups" } else { "" };
        let ts = if f.contains(wgpu::Features::TIMESTAMP_QUERY) { " timestamps" } else { "" };
        println!("{}{sub}{ts}{mark}", e.describe());
    }
    Ok(ExitCode::SUCCESS)
}

fn open(a: &AdapterArgs) -> Result<Gpu> {
    let gpu = Gpu::new(&choice(a))?;
    eprintln!("adapter: {}", gpu.describe());
    Ok(gpu)
}

fn check_cmd(a: &AdapterArgs, args: &CheckArgs) -> Result<ExitCode> {
    let names = check::op_names();
    if let Some(op) = &args.op
        && !names.contains(&op.as_str())
    {
        bail!("unknown op '{op}' for --op; choose one of: {}", names.join(", "));
    }
    let gpu = open(a)?;
    let seed = args.seed.unwrap_or_else(check::seed_from_env_or_clock);
    println!("seed {seed} (replay with --seed {seed}); kernels: {}", gpu.caps.kernels.name());
    println!(
        "{:<17} {:<34} {:<14} {:<46} {:>10} {:>10} {:>9}  result",
        "op", "pass", "kernel", "shape", "max|err|", "rel err", "bound"
    );
    let mut failures = 0;
    let mut total = 0;
    let start = std::time::Instant::now();
    check::run(&gpu, args.op.as_deref(), seed, |r| {
        total += 1;
        if !r.ok {
            failures += 1;
        }
        if !args.failures_only || !r.ok {
            println!(
                "{:<17} {:<34} {:<14} {:<46} {:>10.2e} {:>10.2e} {:>9.1e}  {}",
                r.op,
                r.pass,
                r.kernel,
                r.shape,
                r.max_abs,
                r.rel,
                r.bound,
                if r.ok { "PASS" } else { "FAIL" }
            );
        }
    })
    .context("running the checks")?;
    println!(
        "{} of {total} checks passed in {:.1} s on {} (seed {seed})",
        total - failures,
        start.elapsed().as_secs_f64(),
        gpu.info.name
    );
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn bench_cmd(a: &AdapterArgs, args: &BenchArgs) -> Result<ExitCode> {
    match args.op.as_str() {
        "matmul" => {}
        "train-step" => return commands::bench_train_step(a, args).map(|_| ExitCode::SUCCESS),
        other => bail!("--op {other}: choose matmul or train-step"),
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes must list positive sizes, e.g. --sizes 256,1024");
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let kernels: Vec<MatmulKernel> = if args.kernels.is_empty() {
        MatmulKernel::ALL.to_vec()
    } else {
        args.kernels
            .iter()
            .map(|name| {
                MatmulKernel::ALL.into_iter().find(|k| k.name() == name).with_context(|| {
                    let all: Vec<&str> = MatmulKernel::ALL.iter().map(|k| k.name()).collect();
                    format!("unknown kernel '{name}' for --kernels; choose from {}", all.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    let gpu = open(a)?;
    let protocol = Protocol { warmup: args.warmup, reps: args.reps, ..Protocol::default() };
    println!(
        "{:<14} {:<16} {:>11} {:>11} {:>9} {:>5} {:>6} {:>9}",
        "kernel", "shape", "median ms", "min ms", "GFLOP/s", "reps", "timer", "rel err"
    );
    bench_matmul(
        &gpu,
        &args.sizes,
        &kernels,
        &protocol,
        args.naive_all,
        |r| {
            println!(
                "{:<14} {:<16} {:>11.3} {:>11.3} {:>9.2} {:>5} {:>6} {:>9.1e}",
                r.kernel,
                r.shape,
                r.timing.median_ms(),
                r.timing.min_ms(),
                r.gflops(),
                r.timing.samples_ms.len(),
                r.timing.method,
                r.rel_err
            );
        },
        |msg| println!("  ({msg})"),
    )?;
    Ok(ExitCode::SUCCESS)
}
