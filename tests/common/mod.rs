//! Helpers shared by the command-line tests.

use std::process::Command;

/// Run the shadergan binary with `args` (no adapter/backend overrides from the environment;
/// Mesa's XDG_RUNTIME_DIR warning silenced): (exit status, stdout, stderr).
pub fn shadergan(args: &[&str]) -> (i32, String, String) {
    shadergan_env(args, &[])
}

/// As `shadergan`, with these environment variables set.
pub fn shadergan_env(args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadergan"))
        .args(args)
        .envs(vars.iter().copied())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("SHADERGAN_ADAPTER")
        .env_remove("SHADERGAN_BACKEND")
        .output()
        .expect("run shadergan");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
