//! Shader modules and compute pipelines, each compiled once per process and cached by
//! (file, entry point, override constants). Compilation runs inside a validation error scope so a
//! bad shader becomes `Error::ShaderCompile` naming the file and entry point, never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Gpu;
use super::shaders::Shader;
use crate::error::{Error, Result};

/// One entry point of one shader with its override constants (tile sizes, modes).
#[derive(Clone, Debug)]
pub struct KernelRef {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
}

impl KernelRef {
    pub fn new(shader: &'static Shader, entry: &'static str) -> Self {
        KernelRef { shader, entry, constants: Vec::new() }
    }

    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.constants.push((name, value));
        self
    }

    /// `file:entry[NAME=value,...]`, for labels and error messages.
    pub fn name(&self) -> String {
        let mut s = format!("{}:{}", self.shader.file, self.entry);
        if !self.constants.is_empty() {
            let c: Vec<String> = self.constants.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", c.join(",")));
        }
        s
    }
}

type Key = (&'static str, &'static str, Vec<(&'static str, u64)>);

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<Key, Arc<wgpu::ComputePipeline>>>,
    /// Replacement sources by module name (see `Gpu::with_shader_source`).
    pub(crate) sources: HashMap<&'static str, String>,
}

/// naga's report as one line: its error lines, with `wgsl:LINE:COL` rewritten to the file
/// of the module the line came from (modules concatenate several files).
fn condense(shader: &Shader, message: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in message.lines().map(str::trim) {
        if let Some(pos) = line.find("wgsl:") {
            let loc = &line[pos + 5..];
            let mut nums = loc.split(':').map(|n| n.trim().parse::<usize>());
            if let (Some(Ok(l)), Some(Ok(c))) = (nums.next(), nums.next()) {
                let (file, l) = shader.locate(l);
                parts.push(format!("at {file}:{l}:{c}"));
            }
        } else if line.contains("error") || line.starts_with("= ") {
            let line = line.trim_start_matches("= ");
            if !parts.iter().any(|p| p == line) && !line.starts_with("In Device::") {
                parts.push(line.to_string());
            }
        }
    }
    if parts.is_empty() { message.split_whitespace().collect::<Vec<_>>().join(" ") } else { parts.join(" ") }
}

fn scope_error(guard: wgpu::ErrorScopeGuard) -> Option<String> {
    pollster::block_on(guard.pop()).map(|e| match e {
        wgpu::Error::Validation { description, .. } => description,
        other => other.to_string(),
    })
}

impl Gpu {
    fn module(&self, shader: &'static Shader) -> Result<wgpu::ShaderModule> {
        let mut modules = self.pipelines.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = modules.get(shader.file) {
            return Ok(m.clone());
        }
        let source = self.pipelines.sources.get(shader.file).map_or(shader.source, |s| s.as_str());
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.file),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        if let Some(message) = scope_error(scope) {
            return Err(Error::ShaderCompile { file: shader.file, entry: "(module)".into(), message: condense(shader, &message) });
        }
        modules.insert(shader.file, module.clone());
        Ok(module)
    }

    /// The compiled pipeline for `kernel`, created on first use.
    pub fn pipeline(&self, kernel: &KernelRef) -> Result<Arc<wgpu::ComputePipeline>> {
        let key: Key = (
            kernel.shader.file,
            kernel.entry,
            kernel.constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        );
        if let Some(p) = self.pipelines.pipelines.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        if kernel.shader.needs_subgroups && !self.caps.subgroups {
            return Err(Error::MissingFeature {
                kernel: kernel.name(),
                feature: "SUBGROUP",
                adapter: self.info.name.clone(),
            });
        }
        let module = self.module(kernel.shader)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&kernel.name()),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &kernel.constants,
                // Every kernel writes its workgroup memory before reading it; skipping the
                // zero-fill saves a pass over it per workgroup.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(message) = scope_error(scope) {
            return Err(Error::ShaderCompile {
                file: kernel.shader.file,
                entry: kernel.entry.to_string(),
                message: condense(kernel.shader, &message),
            });
        }
        let pipeline = Arc::new(pipeline);
        self.pipelines.pipelines.lock().unwrap_or_else(|p| p.into_inner()).insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
