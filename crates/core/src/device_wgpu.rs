//! The wgpu half of `device.rs` (the `wgpu` cargo feature): which adapters exist on which
//! graphics API, and starting one device per adapter.

use std::sync::{Mutex, OnceLock};

use burn::prelude::*;
use burn::tensor::DeviceKind;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use mrcnn_config::{DeviceSpec, WgpuAdapter, WgpuApi};

use crate::device::DeviceError;

/// An adapter as wgpu lists it.
#[derive(Debug, Clone)]
pub struct AdapterInfo {
    pub api: WgpuApi,
    pub name: String,
    pub kind: wgpu::DeviceType,
}

fn wgpu_backend(api: WgpuApi) -> wgpu::Backend {
    match api {
        WgpuApi::Vulkan => wgpu::Backend::Vulkan,
        WgpuApi::Metal => wgpu::Backend::Metal,
        WgpuApi::Dx12 => wgpu::Backend::Dx12,
        WgpuApi::Gl => wgpu::Backend::Gl,
    }
}

fn burn_backend(api: WgpuApi) -> WgpuBackend {
    match api {
        WgpuApi::Vulkan => WgpuBackend::Vulkan,
        WgpuApi::Metal => WgpuBackend::Metal,
        WgpuApi::Dx12 => WgpuBackend::Dx12,
        WgpuApi::Gl => WgpuBackend::Gl,
    }
}

/// The adapters of `api` on this machine (listed once per process and API).
pub fn adapters(api: WgpuApi) -> Vec<AdapterInfo> {
    static LISTED: Mutex<Vec<(WgpuApi, Vec<AdapterInfo>)>> = Mutex::new(Vec::new());
    let mut listed = LISTED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, a)) = listed.iter().find(|(a, _)| *a == api) {
        return a.clone();
    }
    let backend = wgpu_backend(api);
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let found: Vec<AdapterInfo> =
        futures_lite::future::block_on(instance.enumerate_adapters(backend.into()))
            .iter()
            .map(|a| {
                let info = a.get_info();
                AdapterInfo {
                    api,
                    name: info.name,
                    kind: info.device_type,
                }
            })
            .collect();
    // The instance is kept: an instance dropped while another thread creates one has crashed
    // the Vulkan loader.
    static KEPT: OnceLock<Mutex<Vec<wgpu::Instance>>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(instance);
    listed.push((api, found.clone()));
    found
}

/// Whether `adapters` (of one API) has the requested one.
fn has(adapters: &[AdapterInfo], want: WgpuAdapter) -> bool {
    let nth = |kind: wgpu::DeviceType, i: usize| adapters.iter().filter(|a| a.kind == kind).nth(i);
    match want {
        WgpuAdapter::Default => !adapters.is_empty(),
        WgpuAdapter::Discrete(i) => nth(wgpu::DeviceType::DiscreteGpu, i).is_some(),
        WgpuAdapter::Integrated(i) => nth(wgpu::DeviceType::IntegratedGpu, i).is_some(),
        WgpuAdapter::Virtual(i) => nth(wgpu::DeviceType::VirtualGpu, i).is_some(),
        WgpuAdapter::Cpu => nth(wgpu::DeviceType::Cpu, 0).is_some(),
    }
}

/// The API `spec` runs on: the pinned one, else the first supported API with the adapter (for
/// the default adapter, the first with a real GPU, else the first with any adapter).
fn choose_api(adapter: WgpuAdapter, pinned: Option<WgpuApi>) -> Result<WgpuApi, Vec<AdapterInfo>> {
    let candidates: Vec<WgpuApi> = match pinned {
        Some(api) => vec![api],
        None => WgpuApi::SUPPORTED.to_vec(),
    };
    let mut seen = Vec::new();
    let mut any = None;
    for api in candidates {
        let list = adapters(api);
        if adapter == WgpuAdapter::Default {
            if list.iter().any(|a| a.kind != wgpu::DeviceType::Cpu) {
                return Ok(api);
            }
            if any.is_none() && !list.is_empty() {
                any = Some(api);
            }
        } else if has(&list, adapter) {
            return Ok(api);
        }
        seen.extend(list);
    }
    any.ok_or(seen)
}

/// The wgpu device of `spec` (`adapter` on `api`, or on the first supported API with it).
pub(crate) fn device(
    spec: DeviceSpec,
    adapter: WgpuAdapter,
    api: Option<WgpuApi>,
) -> Result<Device, DeviceError> {
    let chosen = choose_api(adapter, api).map_err(|seen| DeviceError::NoAdapter {
        spec,
        apis: match api {
            Some(a) => a.name().to_string(),
            None => "Vulkan, Metal or DX12".into(),
        },
        found: if seen.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = seen
                .iter()
                .map(|a| format!("{} ({}, {:?})", a.name, a.api.name(), a.kind))
                .collect();
            format!("; found: {}", names.join(", "))
        },
    })?;
    let kind = match adapter {
        WgpuAdapter::Default => DeviceKind::DefaultDevice,
        WgpuAdapter::Discrete(i) => DeviceKind::DiscreteGpu(i),
        WgpuAdapter::Integrated(i) => DeviceKind::IntegratedGpu(i),
        WgpuAdapter::Virtual(i) => DeviceKind::VirtualGpu(i),
        WgpuAdapter::Cpu => DeviceKind::Cpu,
    };
    // A runtime starts once; later requests for it get the same device.
    static STARTED: Mutex<Vec<(DeviceKind, WgpuApi, Device)>> = Mutex::new(Vec::new());
    let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, d)) = started.iter().find(|(k, a, _)| *k == kind && *a == chosen) {
        return Ok(d.clone());
    }
    let d = Device::wgpu_options()
        .device_kind(kind.clone())
        .graphics_api(burn_backend(chosen))
        .init()
        .map_err(|source| DeviceError::Init { spec, source })?;
    started.push((kind, chosen, d.clone()));
    Ok(d)
}
