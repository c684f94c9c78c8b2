//! Prepared dispatches and grid arithmetic.
//!
//! A `Dispatch` is a pipeline, a bind group (with its own small uniform buffer of parameters)
//! and a workgroup grid, all created once by an op's `prepare` call and then recorded into any
//! number of compute passes: the training loop records, it never creates.
//!
//! Binding convention, shared by every shader: read-only tensors first, then written tensors,
//! then the parameter uniform, at consecutive binding numbers from 0 in group 0.

use std::sync::Arc;

use bytemuck::Pod;

use super::{Gpu, GpuTensor, KernelRef};
use crate::error::{Error, Result};

/// Workgroup counts for one dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

impl Grid {
    /// `groups` workgroups over a 1-D problem. Above the per-dimension limit (65535 on every
    /// adapter seen) the count is folded into x·y with x·y ≥ groups; shaders recover the flat
    /// workgroup index as `wid.x + wid.y · nwg.x` and guard the excess.
    pub fn linear(gpu: &Gpu, kernel: &str, groups: u64) -> Result<Grid> {
        let max = gpu.limits.max_compute_workgroups_per_dimension as u64;
        let groups = groups.max(1);
        if groups <= max {
            return Ok(Grid { x: groups as u32, y: 1, z: 1 });
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(Error::Limit {
                kernel: kernel.to_string(),
                what: "workgroups",
                needed: groups,
                allowed: max * max,
            });
        }
        Ok(Grid { x: groups.div_ceil(y) as u32, y: y as u32, z: 1 })
    }

    /// Workgroups for `n` items at `per_group` items per workgroup.
    pub fn for_items(gpu: &Gpu, kernel: &str, n: u64, per_group: u64) -> Result<Grid> {
        Grid::linear(gpu, kernel, n.div_ceil(per_group))
    }

    /// An explicit 3-D grid, checked against the per-dimension limit.
    pub fn new(gpu: &Gpu, kernel: &str, x: u64, y: u64, z: u64) -> Result<Grid> {
        let max = gpu.limits.max_compute_workgroups_per_dimension as u64;
        for v in [x, y, z] {
            if v > max {
                return Err(Error::Limit { kernel: kernel.to_string(), what: "workgroups per dimension", needed: v, allowed: max });
            }
        }
        Ok(Grid { x: x.max(1) as u32, y: y.max(1) as u32, z: z.max(1) as u32 })
    }

    pub fn groups(&self) -> u64 {
        self.x as u64 * self.y as u64 * self.z as u64
    }
}

/// A kernel launch ready to record: nothing is created when it is recorded. Cloning is cheap
/// (the pipeline and bind group are shared handles), so one prepared launch can appear several
/// times in a training step's program.
#[derive(Clone)]
pub struct Dispatch {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    pub grid: Grid,
    /// `op.pass shape`, shown in profiles and GPU debuggers.
    pub label: String,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dispatch({} grid {}x{}x{})", self.label, self.grid.x, self.grid.y, self.grid.z)
    }
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.grid.x, self.grid.y, self.grid.z);
    }
}

fn overlaps(a: &GpuTensor, b: &GpuTensor) -> bool {
    Arc::ptr_eq(a.buffer(), b.buffer())
}

impl Gpu {
    /// Prepare a dispatch of `kernel` over `grid` with `reads` bound read-only, `writes` bound
    /// read-write and `params` as the uniform after them. Checks the adapter's limits and
    /// that no buffer is both read and written (WebGPU forbids it within one dispatch).
    pub fn dispatch<P: Pod>(
        &self,
        kernel: &KernelRef,
        label: impl Into<String>,
        reads: &[&GpuTensor],
        writes: &[&GpuTensor],
        params: &P,
        grid: Grid,
    ) -> Result<Dispatch> {
        let label = label.into();
        let name = || format!("{label} ({})", kernel.name());
        let storage = (reads.len() + writes.len()) as u64;
        let max_storage = self.limits.max_storage_buffers_per_shader_stage as u64;
        if storage > max_storage {
            return Err(Error::Limit { kernel: name(), what: "storage buffers per stage", needed: storage, allowed: max_storage });
        }
        let max_binding = self.limits.max_storage_buffer_binding_size;
        for t in reads.iter().chain(writes) {
            if t.binding_size() > max_binding {
                return Err(Error::Limit {
                    kernel: format!("{} (tensor {} {:?})", name(), t.label(), t.shape()),
                    what: "storage binding bytes",
                    needed: t.binding_size(),
                    allowed: max_binding,
                });
            }
        }
        for r in reads {
            if let Some(w) = writes.iter().find(|w| overlaps(r, w)) {
                return Err(Error::shape(
                    name(),
                    format!("{} is read and {} is written, but they share one buffer", r.label(), w.label()),
                ));
            }
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if grid.x > max || grid.y > max || grid.z > max {
            return Err(Error::Limit {
                kernel: name(),
                what: "workgroups per dimension",
                needed: grid.x.max(grid.y).max(grid.z) as u64,
                allowed: max as u64,
            });
        }

        let pipeline = self.pipeline(kernel)?;
        let uniform = self.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label),
            contents: bytemuck::bytes_of(params),
            usage: wgpu::BufferUsages::UNIFORM,
        })?;
        let mut entries: Vec<wgpu::BindGroupEntry> = reads
            .iter()
            .chain(writes)
            .enumerate()
            .map(|(i, t)| wgpu::BindGroupEntry { binding: i as u32, resource: t.binding() })
            .collect();
        entries.push(wgpu::BindGroupEntry { binding: storage as u32, resource: uniform.as_entire_binding() });

        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu { context: format!("binding {}", name()), message: e.to_string() });
        }
        Ok(Dispatch { pipeline, bind_group, grid, label })
    }
}
