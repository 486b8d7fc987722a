//! Choosing the compute device from the command line. Burn would pick wgpu over the CPU whenever
//! it is compiled in, so the device is always named explicitly.

use anyhow::{Result, bail};
use burn::prelude::*;

/// `cpu` (flex) or `wgpu` (the default GPU adapter, or `wgpu:N` for discrete GPU N).
pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        other => {
            if let Some(n) = other.strip_prefix("wgpu:") {
                let i: usize = n.parse().map_err(|_| {
                    anyhow::anyhow!("device '{other}': expected wgpu:N with N a number")
                })?;
                return Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i)));
            }
            bail!("unknown device '{other}': use cpu, wgpu or wgpu:N")
        }
    }
}
