//! What every objective's run shares: the run loop (when to read back, score, log, checkpoint
//! and stop), the checkpoint of its networks, Adam moments and counters, restoring it, and the
//! run directory's config.json. An objective says how one iteration runs and what a record
//! holds ([`Objective`]); [`run`] does the rest.
//!
//! The GAN, the classifier and the autoencoders all run on it; the GAN adds its grids (as its
//! `evaluate`), the loss plot and `--eval-every` scores through the hooks.
//!
//! Order within one step: iterate (reading the statistics back only when logging or
//! checkpointing: no host wait otherwise) → refuse non-finite statistics → evaluate (score the
//! held-out data, draw grids) → log → checkpoint (refusing non-finite weights, keeping the
//! last good file) → stop if interrupted. A gradient all-reduce for data-parallel training would sit inside
//! `iterate`, between the backward passes and the optimizer step of its one submit.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::checkpoint::{self, HostTensor, TensorFile, Values};
use crate::error::{Error, Result};
use crate::fsutil::{atomic_write, ensure_writable_dir};
use crate::gpu::{Gpu, GpuTensor};
use crate::nn::{NetSpec, ParamStore};

/// When a run reads back, scores, logs and checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct Cadence {
    /// The step the run ends at.
    pub steps: u64,
    pub log_every: u64,
    /// Score the held-out data (and draw, where the objective draws) every this many steps.
    pub eval_every: u64,
    pub checkpoint_every: u64,
}

/// One training objective, as the run loop sees it.
pub trait Objective {
    /// What `iterate` reads back from the GPU.
    type Readback;
    /// What a held-out score gives.
    type Score: Copy;
    /// One line of metrics.jsonl.
    type Record: Serialize;

    fn out(&self) -> &Path;
    fn cadence(&self) -> Cadence;
    /// Steps done so far.
    fn step(&self) -> u64;
    fn last_checkpoint(&self) -> Option<u64>;
    /// Raised by a signal handler: finish this step, checkpoint, return.
    fn stop_flag(&self) -> Option<&Arc<AtomicBool>>;
    /// Images one step trains on (for images/s).
    fn images_per_step(&self) -> f64;
    /// Record and submit one iteration (the step counts up); with `read`, wait for and return
    /// its statistics.
    fn iterate(&mut self, read: bool) -> Result<Option<Self::Readback>>;
    /// Why the statistics show divergence, if they do (a non-finite loss).
    fn diverged(&self, readback: &Self::Readback) -> Option<String>;
    /// Score (and draw) the held-out data, every `eval_every` steps and at the end.
    fn evaluate(&mut self, emit: &mut dyn FnMut(RunEvent<Self::Record>)) -> Result<Self::Score>;
    fn record(&self, readback: Self::Readback, score: Option<Self::Score>, images_per_s: f64, elapsed_s: f64) -> Self::Record;
    fn save_checkpoints(&mut self) -> Result<PathBuf>;

    /// The flag a divergence message says to lower.
    fn lr_flag(&self) -> &'static str {
        "--lr"
    }
    /// Whether a step that evaluates is also logged (its record holds the score); the GAN's
    /// grids are not part of its records, so it logs every `log_every` steps only.
    fn logs_when_evaluating(&self) -> bool {
        true
    }
    /// Whether step `next` (`last`: the run's final step) must checkpoint besides the cadence
    /// (the GAN's --eval-every scores the file it writes).
    fn checkpoint_due(&self, _next: u64, _last: bool) -> bool {
        false
    }
    /// After a record is written to metrics.jsonl.
    fn logged(&mut self, _record: &Self::Record) {}
    /// After the checkpoint of a step is written, before it is reported (`last`: the run's
    /// final step).
    fn checkpointed(&mut self, _last: bool, _metrics: &mut std::fs::File, _emit: &mut dyn FnMut(RunEvent<Self::Record>)) -> Result<()> {
        Ok(())
    }
}

/// What the run reports as it goes.
pub enum RunEvent<'a, R> {
    Logged(&'a R),
    /// A grid of samples was drawn (the GAN's).
    Sampled(&'a Path),
    /// The generator was scored (`--eval-every`): the step and the named scores.
    Evaluated(u64, &'a [(String, f64)]),
    Checkpointed(&'a Path),
    /// The stop flag was raised: the step in flight finished, its state passed the checks and
    /// was checkpointed, and the run returned early.
    Interrupted(u64),
}

/// "the last good checkpoint (step N) is kept in DIR", or that none was written.
pub fn kept(last_checkpoint: Option<u64>, dir: &Path) -> String {
    last_checkpoint.map_or("no checkpoint was written yet".to_string(), |s| format!("the last good checkpoint (step {s}) is kept in {}", dir.display()))
}

/// Train `o` to its last step, writing metrics.jsonl and checkpoints in its run directory.
/// Stops with an error naming the step, keeping the last good checkpoint, on divergence.
pub fn run<O: Objective>(o: &mut O, mut on_event: impl FnMut(RunEvent<O::Record>)) -> Result<()> {
    let dir = o.out().to_path_buf();
    let (metrics_path, mut metrics) = super::open_metrics(&dir)?;
    let c = o.cadence();
    let start = Instant::now();
    let (mut window_start, mut window_step) = (Instant::now(), o.step());
    while o.step() < c.steps {
        let next = o.step() + 1;
        // Interrupted: this step is the last, read back and checkpointed like the final one.
        let interrupted = super::stopping(o.stop_flag());
        let last = next == c.steps || interrupted;
        let eval = next % c.eval_every == 0 || last;
        let log = next % c.log_every == 0 || last || (eval && o.logs_when_evaluating());
        let save = next % c.checkpoint_every == 0 || last || o.checkpoint_due(next, last);
        // Statistics are read before every checkpoint: one is only written from a finite state.
        let readback = o.iterate(log || save)?;
        if let Some(r) = &readback
            && let Some(why) = o.diverged(r)
        {
            return Err(Error::invalid("training", format!("diverged at step {}: {why}; {}; start again with a lower {}", o.step(), kept(o.last_checkpoint(), &dir), o.lr_flag())));
        }
        let score = if eval { Some(o.evaluate(&mut on_event)?) } else { None };
        if let (true, Some(r)) = (log, readback) {
            let now = Instant::now();
            let rate = (o.step() - window_step) as f64 * o.images_per_step() / now.duration_since(window_start).as_secs_f64().max(1e-9);
            (window_start, window_step) = (now, o.step());
            let rec = o.record(r, score, rate, start.elapsed().as_secs_f64());
            let line = serde_json::to_string(&rec).map_err(|e| Error::invalid("metrics", e.to_string()))?;
            writeln!(metrics, "{line}").map_err(|e| Error::io(&metrics_path, e))?;
            o.logged(&rec);
            on_event(RunEvent::Logged(&rec));
        }
        if save {
            let path = o.save_checkpoints()?;
            o.checkpointed(last, &mut metrics, &mut on_event)?;
            on_event(RunEvent::Checkpointed(&path));
        }
        if interrupted {
            on_event(RunEvent::Interrupted(o.step()));
            return Ok(());
        }
    }
    Ok(())
}

/// A network in a checkpoint: its tensors under `prefix` (its PyTorch state dict), its Adam
/// moments under `opt`, and its own state-dict file `<file>.safetensors` whose metadata names
/// it `file`.
pub struct SavedNet<'a> {
    pub file: &'a str,
    pub prefix: &'a str,
    pub opt: &'a str,
    pub spec: &'a NetSpec,
    pub store: &'a ParamStore,
}

/// Write checkpoint.safetensors (every net's state and Adam moments, and the counters, with
/// `metadata`) and each net's state dict, each atomically, after checking every value is
/// finite (`bn_forwards`: PyTorch's num_batches_tracked).
#[allow(clippy::too_many_arguments)]
pub fn save_checkpoints(gpu: &Gpu, dir: &Path, metadata: HashMap<String, String>, nets: &[SavedNet], counters: &GpuTensor, bn_forwards: u64, step: u64, last_checkpoint: Option<u64>) -> Result<PathBuf> {
    let mut tensors = BTreeMap::new();
    let mut dicts = Vec::new();
    for net in nets {
        let state = checkpoint::state_dict(gpu, net.spec, net.store, bn_forwards)?;
        let opt = checkpoint::optimizer_state(gpu, net.store, net.opt)?;
        for (k, t) in state.iter().chain(&opt) {
            if let Some(v) = t.f32()
                && let Some(i) = v.iter().position(|x| !x.is_finite())
            {
                let kept = last_checkpoint.map_or("no checkpoint was written yet".to_string(), |s| format!("the last good checkpoint (step {s}) is kept"));
                return Err(Error::invalid("training", format!("diverged at step {step}: {} {k}[{i}] is not finite; {kept}; start again with a lower --lr", net.file)));
            }
        }
        tensors.extend(state.iter().map(|(k, t)| (format!("{}{k}", net.prefix), t.clone())));
        tensors.extend(opt);
        dicts.push((net.file, state));
    }
    let values = counters.read_u32(gpu)?;
    tensors.insert("counters".into(), HostTensor { shape: vec![values.len()], values: Values::U32(values) });
    let path = dir.join("checkpoint.safetensors");
    TensorFile { tensors, metadata: metadata.clone() }.save(&path)?;
    for (name, state) in dicts {
        let mut md = metadata.clone();
        md.remove("config");
        md.insert("format".into(), "shadergan-state-dict-1 (PyTorch nn.Sequential keys)".into());
        md.insert("net".into(), name.into());
        TensorFile { tensors: state, metadata: md }.save(&dir.join(format!("{name}.safetensors")))?;
    }
    Ok(path)
}

/// Load a checkpoint.safetensors of format `format` (an `objective`'s) into `nets` and
/// `counters`; its step and metadata.
pub fn restore(gpu: &Gpu, path: &Path, format: &str, objective: &str, nets: &[SavedNet], counters: &GpuTensor) -> Result<(u64, HashMap<String, String>)> {
    let file = TensorFile::load(path)?;
    if file.metadata.get("format").map(String::as_str) != Some(format) {
        return Err(Error::bad_file(path, format!("not a shadergan {objective} checkpoint (metadata format ≠ {format})")));
    }
    let step: u64 = file.metadata.get("step").and_then(|s| s.parse().ok()).ok_or_else(|| Error::bad_file(path, "has no step in its metadata"))?;
    let fix = " (the run's config.json describes another model: was this checkpoint copied from another run?)";
    for net in nets {
        checkpoint::load_into(gpu, path, &file, net.prefix, net.spec, net.store, Some(net.opt), fix)?;
    }
    let n = counters.numel();
    match file.tensors.get("counters").map(|t| &t.values) {
        Some(Values::U32(c)) if c.len() == n => counters.write_u32(gpu, c)?,
        _ => return Err(Error::bad_file(path, format!("has no u32 'counters' tensor of {n} values"))),
    }
    Ok((step, file.metadata))
}

/// Make the run directory ready: writable, stale temporary files removed, config.json
/// (`info`) written, and metrics.jsonl cut back to `step` when resuming.
pub fn prepare_run_dir(dir: &Path, info: &impl Serialize, step: u64) -> Result<()> {
    ensure_writable_dir(dir)?;
    crate::fsutil::remove_stale_temp_files(dir);
    let json = serde_json::to_vec_pretty(info).map_err(|e| Error::invalid("config", e.to_string()))?;
    atomic_write(&dir.join("config.json"), &json)?;
    super::keep_metrics_up_to(dir, step)?;
    Ok(())
}
