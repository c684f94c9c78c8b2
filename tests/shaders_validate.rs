//! Every WGSL module parses and validates with naga, for every override value the host uses,
//! and translates to SPIR-V (Vulkan) and, where it needs no subgroups, to GLSL (the GL
//! fallback) — so a shader that would fail on some backend fails here, with no GPU. Also: each
//! shader opens with its header, and each host `Params` struct has its WGSL twin's size.

use naga::back::pipeline_constants::process_overrides;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadergan::gpu::shaders::{Shader, ALL};

fn parse(shader: &Shader) -> naga::Module {
    naga::front::wgsl::parse_str(shader.source)
        .unwrap_or_else(|e| panic!("{} ({:?}) does not parse:\n{}", shader.file, shader.parts, e.emit_to_string(shader.source)))
}

fn capabilities(shader: &Shader) -> Capabilities {
    let base = Capabilities::default();
    if shader.needs_subgroups { base | Capabilities::SUBGROUP } else { base }
}

fn validate(shader: &Shader, module: &naga::Module) -> naga::valid::ModuleInfo {
    Validator::new(ValidationFlags::all(), capabilities(shader))
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(module)
        .unwrap_or_else(|e| panic!("{} ({:?}) does not validate:\n{}", shader.file, shader.parts, e.emit_to_string(shader.source)))
}

/// The override values the host passes (src/ops/conv.rs, src/ops/matmul.rs).
fn override_values(name: &str) -> Vec<f64> {
    match name {
        "MODE" => vec![0.0, 1.0, 2.0],
        "A_VEC4" => vec![0.0, 1.0],
        "SG" => vec![8.0, 16.0, 32.0, 64.0],
        "ROW_LANES" => vec![1.0, 2.0, 8.0],
        other => panic!("override {other} has no values listed in tests/shaders_validate.rs"),
    }
}

/// Every combination of values of the module's overrides.
fn override_sets(module: &naga::Module) -> Vec<Vec<(String, f64)>> {
    let mut sets: Vec<Vec<(String, f64)>> = vec![vec![]];
    for (_, o) in module.overrides.iter() {
        let name = o.name.clone().expect("overrides are named");
        let mut next = Vec::new();
        for set in &sets {
            for v in override_values(&name) {
                let mut s = set.clone();
                s.push((name.clone(), v));
                next.push(s);
            }
        }
        sets = next;
    }
    sets
}

#[test]
fn every_shader_validates_and_translates_for_every_override() {
    for shader in ALL {
        let module = parse(shader);
        let info = validate(shader, &module);
        let entries: Vec<String> = module.entry_points.iter().map(|e| e.name.clone()).collect();
        assert!(!entries.is_empty(), "{} has no entry points", shader.file);
        let mut translated = 0;
        for set in override_sets(&module) {
            let constants: naga::back::PipelineConstants = set.iter().cloned().collect();
            for entry in &entries {
                let (m, i) = process_overrides(&module, &info, Some((naga::ShaderStage::Compute, entry)), &constants)
                    .unwrap_or_else(|e| panic!("{}:{entry} with {set:?}: {e}", shader.file));
                let spv_options = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
                let pipeline = naga::back::spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: entry.clone() };
                naga::back::spv::write_vec(&m, &i, &spv_options, Some(&pipeline))
                    .unwrap_or_else(|e| panic!("{}:{entry} with {set:?}: SPIR-V: {e}", shader.file));
                if !shader.needs_subgroups {
                    let mut out = String::new();
                    let options = naga::back::glsl::Options::default();
                    let pipeline = naga::back::glsl::PipelineOptions {
                        shader_stage: naga::ShaderStage::Compute,
                        entry_point: entry.clone(),
                        multiview: None,
                    };
                    let mut writer = naga::back::glsl::Writer::new(&mut out, &m, &i, &options, &pipeline, Default::default())
                        .unwrap_or_else(|e| panic!("{}:{entry} with {set:?}: GLSL: {e}", shader.file));
                    writer.write().unwrap_or_else(|e| panic!("{}:{entry} with {set:?}: GLSL: {e}", shader.file));
                }
                translated += 1;
            }
        }
        eprintln!("{}: {} entry points, {translated} specialisations translated", shader.file, entries.len());
    }
}

#[test]
fn subgroup_free_modules_do_not_need_subgroups() {
    // The GL fallback has no SUBGROUP: everything it runs must validate without it.
    for shader in ALL.iter().filter(|s| !s.needs_subgroups) {
        let module = parse(shader);
        Validator::new(ValidationFlags::all(), Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{} needs a capability GL lacks:\n{}", shader.file, e.emit_to_string(shader.source)));
    }
}

#[test]
fn every_shader_file_opens_with_its_header() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "expected the shader files in {}", dir.display());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or("");
        assert!(first.starts_with(&format!("// {name} — ")), "{name}: first line must be `// {name} — <what it is>`, got {first:?}");
        let header: String = text.lines().take_while(|l| l.starts_with("//") || l.is_empty()).collect::<Vec<_>>().join("\n");
        assert!(header.contains("MATH"), "{name}: header lacks MATH");
        if text.contains("@compute") {
            for key in ["WORK", "GRID", "WRITES", "BINDINGS"] {
                assert!(header.contains(key), "{name}: header lacks {key}");
            }
        }
        let listed = ALL.iter().any(|s| s.has_part(&name));
        assert!(listed, "{name} is not part of any module in src/gpu/shaders.rs");
    }
}

/// Size in bytes of WGSL struct `name` in `shader`.
fn wgsl_struct_size(shader: &Shader, name: &str) -> u32 {
    let module = parse(shader);
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (handle, _) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{} has no struct {name}", shader.file));
    layouter[handle].size
}

#[test]
fn host_params_structs_match_their_wgsl_twins() {
    use shadergan::gpu::shaders as sh;
    use shadergan::ops;
    use std::mem::size_of;
    let pairs: &[(&Shader, &str, usize)] = &[
        (&sh::ELEMENTWISE, "EwParams", size_of::<ops::elementwise::EwParams>()),
        (&sh::ELEMENTWISE, "CounterParams", size_of::<ops::elementwise::CounterParams>()),
        (&sh::ACTIVATION, "ActParams", size_of::<ops::activation::ActParams>()),
        (&sh::REDUCE, "ReduceParams", size_of::<ops::reduce::ReduceParams>()),
        (&sh::FINITE, "FiniteParams", size_of::<ops::finite::FiniteParams>()),
        (&sh::DISTANCE, "NormParams", size_of::<ops::distance::NormParams>()),
        (&sh::DISTANCE, "FinishParams", size_of::<ops::distance::FinishParams>()),
        (&sh::LOSS, "LossParams", size_of::<ops::loss::LossParams>()),
        (&sh::OPTIM, "AdamParams", size_of::<ops::optim::AdamParams>()),
        (&sh::OPTIM, "SgdParams", size_of::<ops::optim::SgdParams>()),
        (&sh::OPTIM, "RmspropParams", size_of::<ops::optim::RmspropParams>()),
        (&sh::OPTIM, "EmaParams", size_of::<ops::optim::EmaParams>()),
        (&sh::OPTIM, "ScheduleParams", size_of::<ops::optim::ScheduleParams>()),
        (&sh::SPECTRAL_NORM, "SnParams", size_of::<ops::spectral_norm::SnParams>()),
        (&sh::SPECTRAL_NORM, "ElemParams", size_of::<ops::spectral_norm::ElemParams>()),
        (&sh::PENALTY, "PenaltyParams", size_of::<ops::penalty::PenaltyParams>()),
        (&sh::VAE, "VaeParams", size_of::<ops::vae::VaeParams>()),
        (&sh::MASK, "MaskParams", size_of::<ops::mask::MaskParams>()),
        (&sh::PROJECTION, "ProjectionParams", size_of::<ops::projection::ProjectionParams>()),
        (&sh::POOL, "PoolParams", size_of::<ops::pool::PoolParams>()),
        (&sh::RANDOM, "RngParams", size_of::<ops::random::RngParams>()),
        (&sh::DATA, "DataParams", size_of::<ops::data::DataParams>()),
        (&sh::LABELS, "LabelParams", size_of::<ops::labels::LabelParams>()),
        (&sh::EMBEDDING, "EmbeddingParams", size_of::<ops::embedding::EmbeddingParams>()),
        (&sh::MINIBATCH_STD, "MinibatchStdParams", size_of::<ops::minibatch_std::MinibatchStdParams>()),
        (&sh::BATCHNORM, "BnParams", size_of::<ops::batchnorm::BnParams>()),
        (&sh::LAYERNORM, "LnParams", size_of::<ops::layernorm::LnParams>()),
        (&sh::MATMUL, "MatmulParams", size_of::<ops::matmul::MatmulParams>()),
        (&sh::CONV, "ConvParams", size_of::<ops::conv::ConvParams>()),
    ];
    for &(shader, name, host) in pairs {
        let wgsl = wgsl_struct_size(shader, name) as usize;
        assert_eq!(wgsl, host, "{name}: {wgsl} bytes in {} but {host} bytes on the host", shader.file);
        assert_eq!(host % 16, 0, "{name}: uniform structs must be a multiple of 16 bytes");
    }
}
