//! Files are written atomically: into a temporary file beside the target, flushed to disk,
//! then renamed over it, so a crash or a full disk never leaves a half-written checkpoint or
//! image behind (the old file stays until the new one is complete).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// SHA-256 of a file's bytes, lowercase hex (how eval names a feature extractor's weights).
pub fn sha256_of_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `bytes` to `path` atomically.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Create the run directory `dir` (and parents) and check that files can be written in it.
pub fn ensure_writable_dir(dir: &Path) -> Result<()> {
    let fail = |e: std::io::Error| Error::invalid("--out", format!("cannot write the run directory {} ({e}); choose another --out", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".write-test.{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The files a training run writes into its directory (besides `samples/step_*.png`).
pub const RUN_FILES: &[&str] = &[
    "config.json",
    "checkpoint.safetensors",
    "generator.safetensors",
    "generator_ema.safetensors",
    "discriminator.safetensors",
    "initial.safetensors",
    "metrics.jsonl",
    "loss_curves.png",
    "real_samples.png",
    "fake_samples.png",
];

/// What a directory given as `train --out` holds.
#[derive(Debug, PartialEq, Eq)]
pub enum RunDir {
    /// Not there, or empty (stale temporary files of ours aside): free to use.
    Free,
    /// A shadergan run with its config and checkpoint: `--resume` can continue it.
    Complete,
    /// A shadergan config.json without a checkpoint: a run that stopped before its first.
    Incomplete,
    /// Something else; the first few names, for the message.
    Foreign(Vec<String>),
}

/// Whether `name` is a temporary file left by `atomic_write` or `ensure_writable_dir`, and the
/// process id that made it.
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    if let Some(pid) = rest.strip_prefix("write-test.") {
        return pid.parse().ok();
    }
    let stem = rest.strip_suffix(".tmp")?;
    stem.rsplit_once('.')?.1.parse().ok()
}

/// Classify `dir` for `train --out`.
pub fn run_dir_state(dir: &Path) -> RunDir {
    let Ok(entries) = std::fs::read_dir(dir) else { return RunDir::Free };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| temp_file_pid(n).is_none()).collect();
    if names.is_empty() {
        return RunDir::Free;
    }
    let is_run_config = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("shadergan").is_some() && v.get("config").is_some());
    match (is_run_config, dir.join("checkpoint.safetensors").is_file()) {
        (true, true) => RunDir::Complete,
        (true, false) => RunDir::Incomplete,
        _ => {
            names.sort();
            RunDir::Foreign(names)
        }
    }
}

/// Remove what an earlier run wrote into `dir` (RUN_FILES and `samples/step_*.png`), so that
/// after `--overwrite` the directory holds one run. Files that are not shadergan's stay.
pub fn clear_run(dir: &Path) -> Result<()> {
    let remove = |p: &Path| match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    };
    for name in RUN_FILES {
        remove(&dir.join(name))?;
    }
    let samples = dir.join("samples");
    if let Ok(entries) = std::fs::read_dir(&samples) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("step_") && name.ends_with(".png") {
                remove(&e.path())?;
            }
        }
        let _ = std::fs::remove_dir(&samples); // only if now empty
    }
    Ok(())
}

/// Whether process `pid` is still running (Linux: /proc/PID; elsewhere we cannot tell cheaply
/// and say no, so a killed run's leftovers are removed).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Remove temporary files that a killed write left in `dir` (`.NAME.PID.tmp`, `.write-test.PID`
/// of processes no longer running). Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = temp_file_pid(&name)
            && !alive(pid)
            && e.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
