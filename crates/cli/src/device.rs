//! Choosing the compute device from the command line. Burn would pick wgpu over the CPU whenever
//! it is compiled in, so the device is always named explicitly; the names are the experiments'
//! (`mrcnn_config::DeviceSpec`).

use anyhow::Result;
use burn::prelude::*;

/// `cpu` (flex), `wgpu` (the default adapter), `wgpu:N` (discrete GPU N), `wgpu:integrated:N`,
/// `wgpu:virtual:N` or `wgpu:cpu`.
pub fn parse_device(name: &str) -> Result<Device> {
    Ok(mrcnn_train::run::parse_device(name)?)
}
