//! Checkpoints in safetensors.
//!
//! - `generator.safetensors` / `discriminator.safetensors`: exactly the keys and shapes of
//!   pytorch/examples' `netG.state_dict()` / `netD.state_dict()` (`main.0.weight`,
//!   `main.1.running_mean`, `main.1.num_batches_tracked` as int64 …), so
//!   `netG.load_state_dict(safetensors.torch.load_file(path))` works in PyTorch; the
//!   shadergan model config rides along in the file's metadata (PyTorch ignores it).
//! - `checkpoint.safetensors`: the full training state: both networks (`netG.*`, `netD.*`),
//!   both Adam states (`optG.exp_avg.*`, `optG.exp_avg_sq.*`, …), the GPU step counters (which
//!   fix the Adam step, the data order, the latents and the dropout masks) and, in metadata,
//!   the step and the resolved config. Resuming from it continues bit for bit.
//!
//! All written atomically (fsutil::atomic_write).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use crate::gpu::Gpu;
use crate::nn::{Kind, Layer, NetSpec, ParamStore};

pub const FORMAT: &str = "shadergan-checkpoint-1";

/// One tensor's values on the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
    U32(Vec<u32>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl HostTensor {
    fn bytes(&self) -> (Dtype, &[u8]) {
        match &self.values {
            Values::F32(v) => (Dtype::F32, bytemuck::cast_slice(v)),
            Values::I64(v) => (Dtype::I64, bytemuck::cast_slice(v)),
            Values::U32(v) => (Dtype::U32, bytemuck::cast_slice(v)),
        }
    }

    pub fn f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            _ => None,
        }
    }
}

/// A named set of tensors plus string metadata: what a safetensors file holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, HostTensor>,
    pub metadata: HashMap<String, String>,
}

impl TensorFile {
    pub fn save(&self, path: &Path) -> Result<()> {
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                let (dtype, data) = t.bytes();
                TensorView::new(dtype, t.shape.clone(), data).map(|v| (k.clone(), v))
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::bad_file(path, format!("cannot serialise: {e}")))?;
        let metadata = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        let bytes = safetensors::serialize(views, metadata).map_err(|e| Error::bad_file(path, format!("cannot serialise: {e}")))?;
        atomic_write(path, &canonical_header(path, bytes)?)
    }

    pub fn load(path: &Path) -> Result<TensorFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::bad_file(path, format!("not a valid safetensors file ({e})")))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::bad_file(path, format!("not a valid safetensors file ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => Values::F32(bytemuck::pod_collect_to_vec(data)),
                Dtype::I64 => Values::I64(bytemuck::pod_collect_to_vec(data)),
                Dtype::U32 => Values::U32(bytemuck::pod_collect_to_vec(data)),
                other => return Err(Error::bad_file(path, format!("tensor {name} has dtype {other:?}; shadergan reads F32 (and I64/U32 counters)"))),
            };
            tensors.insert(name, HostTensor { shape: view.shape().to_vec(), values });
        }
        Ok(TensorFile { tensors, metadata: meta.metadata().clone().unwrap_or_default() })
    }
}

/// The same safetensors file with its JSON header's keys sorted at every level. The crate
/// writes `__metadata__` from a hash map, whose order changes from process to process, so two
/// identical runs would otherwise write files that differ byte for byte. Tensor offsets are
/// relative to the data section, which is unchanged; the header is re-padded with spaces to a
/// multiple of 8 bytes as the format asks.
fn canonical_header(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::bad_file(path, format!("cannot serialise: {what}"));
    let n = u64::from_le_bytes(bytes.get(..8).ok_or_else(|| bad("no header"))?.try_into().expect("8 bytes")) as usize;
    let header = bytes.get(8..8 + n).ok_or_else(|| bad("short header"))?;
    let mut value: serde_json::Value = serde_json::from_slice(header).map_err(|e| bad(&e.to_string()))?;
    value.sort_all_objects();
    let mut json = serde_json::to_vec(&value).map_err(|e| bad(&e.to_string()))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend((json.len() as u64).to_le_bytes());
    out.extend(json);
    out.extend(&bytes[8 + n..]);
    Ok(out)
}

/// Indices of the BatchNorm layers: their `num_batches_tracked` entries.
fn batchnorm_layers(spec: &NetSpec) -> Vec<usize> {
    spec.layers.iter().enumerate().filter(|(_, l)| matches!(l, Layer::BatchNorm2d { .. })).map(|(i, _)| i).collect()
}

/// Read which = "param" | "adam_m" | "adam_v" of every tensor of `store` back from the GPU.
fn read(gpu: &Gpu, store: &ParamStore, which: &str) -> Result<BTreeMap<String, HostTensor>> {
    let mut out = BTreeMap::new();
    for s in &store.specs {
        if which != "param" && s.kind == Kind::Buffer {
            continue;
        }
        let t = match which {
            "param" => store.param(&s.name)?,
            "adam_m" => store.adam_m(&s.name)?,
            _ => store.adam_v(&s.name)?,
        };
        out.insert(s.name.clone(), HostTensor { shape: s.shape.clone(), values: Values::F32(t.read_f32(gpu)?) });
    }
    Ok(out)
}

/// The PyTorch state dict of a network: its parameters and buffers, and for each BatchNorm
/// `num_batches_tracked` (the number of training-mode forwards it has seen).
pub fn state_dict(gpu: &Gpu, spec: &NetSpec, store: &ParamStore, bn_forwards: u64) -> Result<BTreeMap<String, HostTensor>> {
    let mut sd = read(gpu, store, "param")?;
    for i in batchnorm_layers(spec) {
        sd.insert(format!("main.{i}.num_batches_tracked"), HostTensor { shape: vec![], values: Values::I64(vec![bn_forwards as i64]) });
    }
    Ok(sd)
}

/// Check that `file` has every tensor of `spec` (under `prefix`) with the right shape and only
/// finite values; the error says which key differs and how, and ends with `fix` (what the
/// caller's user can change: flags for `train`, nothing for `--resume`).
pub fn check_compatible(path: &Path, file: &TensorFile, prefix: &str, spec: &NetSpec, fix: &str) -> Result<()> {
    for s in spec.params() {
        let key = format!("{prefix}{}", s.name);
        match file.tensors.get(&key) {
            None => {
                return Err(Error::bad_file(path, format!("has no tensor {key}: it is not a checkpoint of this {}{fix}", spec.name)));
            }
            Some(t) if t.shape != s.shape => {
                return Err(Error::bad_file(
                    path,
                    format!("{key} is {:?} but this {} expects {:?}: a checkpoint of another architecture or size{fix}", t.shape, spec.name, s.shape),
                ));
            }
            Some(t) => match t.f32() {
                None => return Err(Error::bad_file(path, format!("{key} is not float32"))),
                Some(v) => check_finite(path, &key, v)?,
            },
        }
    }
    Ok(())
}

/// A tensor read from a file must hold only finite values: a model saved after it diverged
/// would otherwise train or sample NaNs without a word.
pub fn check_finite(path: &Path, key: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::bad_file(
            path,
            format!("{key} holds a non-finite value ({} at index {i}): the model diverged before it was saved; use an earlier checkpoint", values[i]),
        )),
    }
}

/// Which network a state dict holds: "generator" or "discriminator", from the `net` metadata
/// shadergan writes, else from the shapes (PyTorch exports carry no metadata): a
/// discriminator's last layer has one output (`[1, …]`), a generator's has the image's.
pub fn which_net(file: &TensorFile, prefix: &str) -> Option<&'static str> {
    match file.metadata.get("net").map(String::as_str) {
        Some("generator") => return Some("generator"),
        Some("discriminator") => return Some("discriminator"),
        _ => {}
    }
    let last = (0..256).rev().find_map(|i| file.tensors.get(&format!("{prefix}main.{i}.weight")).filter(|t| t.shape.len() >= 2))?;
    Some(if last.shape[0] == 1 { "discriminator" } else { "generator" })
}

/// Upload the tensors `prefix + name` of `file` into `store` (params and buffers; with
/// `adam`, also `adam_prefix.exp_avg.` / `.exp_avg_sq.` into the moments). `fix` as in
/// `check_compatible`.
#[allow(clippy::too_many_arguments)]
pub fn load_into(gpu: &Gpu, path: &Path, file: &TensorFile, prefix: &str, spec: &NetSpec, store: &ParamStore, adam_prefix: Option<&str>, fix: &str) -> Result<()> {
    check_compatible(path, file, prefix, spec, fix)?;
    for s in &store.specs {
        let values = file.tensors[&format!("{prefix}{}", s.name)].f32().expect("checked");
        store.param(&s.name)?.write_f32(gpu, values)?;
        if let (Some(ap), Kind::Trainable) = (adam_prefix, s.kind) {
            for (which, t) in [("exp_avg", store.adam_m(&s.name)?), ("exp_avg_sq", store.adam_v(&s.name)?)] {
                let key = format!("{ap}.{which}.{}", s.name);
                let v = file.tensors.get(&key).and_then(|t| t.f32()).ok_or_else(|| Error::bad_file(path, format!("has no optimizer state {key}")))?;
                if v.len() != t.numel() {
                    return Err(Error::bad_file(path, format!("{key} has {} values, expected {}", v.len(), t.numel())));
                }
                check_finite(path, &key, v)?;
                t.write_f32(gpu, v)?;
            }
        }
    }
    Ok(())
}

/// The optimizer moments of `store` under `{opt}.exp_avg.{name}` and `{opt}.exp_avg_sq.{name}`
/// (PyTorch's Adam state names), as `load_into` reads them back.
pub fn optimizer_state(gpu: &Gpu, store: &ParamStore, opt: &str) -> Result<BTreeMap<String, HostTensor>> {
    let mut tensors = BTreeMap::new();
    for (which, key) in [("adam_m", "exp_avg"), ("adam_v", "exp_avg_sq")] {
        for (k, t) in read(gpu, store, which)? {
            tensors.insert(format!("{opt}.{key}.{k}"), t);
        }
    }
    Ok(tensors)
}

/// The full training state.
#[allow(clippy::too_many_arguments)]
pub fn full_state(
    gpu: &Gpu,
    g_spec: &NetSpec,
    g: &ParamStore,
    d_spec: &NetSpec,
    d: &ParamStore,
    counters: &[u32],
    bn_forwards: (u64, u64),
    metadata: HashMap<String, String>,
) -> Result<TensorFile> {
    let mut tensors = BTreeMap::new();
    for (net, spec, store, fwd) in [("netG", g_spec, g, bn_forwards.0), ("netD", d_spec, d, bn_forwards.1)] {
        for (k, t) in state_dict(gpu, spec, store, fwd)? {
            tensors.insert(format!("{net}.{k}"), t);
        }
    }
    for (opt, store) in [("optG", g), ("optD", d)] {
        tensors.extend(optimizer_state(gpu, store, opt)?);
    }
    tensors.insert("counters".into(), HostTensor { shape: vec![counters.len()], values: Values::U32(counters.to_vec()) });
    Ok(TensorFile { tensors, metadata })
}
