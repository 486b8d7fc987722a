//! From a device name (`mrcnn_config::DeviceSpec`) to a Burn device.
//!
//! Burn's `Device::wgpu` settles on a graphics API by itself and falls back to OpenGL when no
//! Vulkan driver is installed; on Mesa's llvmpipe the compute kernels then wait forever. So a
//! wgpu device is looked for only on the APIs this project supports and tests (Vulkan, Metal,
//! DX12, in that order), unless the name pins another (`wgpu:gl`), and a machine without such an
//! adapter gets an error saying so instead of a hang. The adapters are listed once per process,
//! before any wgpu runtime starts (the Vulkan loader does not like instances created on several
//! threads at once), and each device is initialised once and then shared.

use burn::prelude::*;
use mrcnn_config::DeviceSpec;

#[cfg(feature = "wgpu")]
#[path = "device_wgpu.rs"]
mod device_wgpu;
#[cfg(feature = "wgpu")]
pub use device_wgpu::{AdapterInfo, adapters};

/// Without the GPU backend every wgpu device is an error saying so.
#[cfg(not(feature = "wgpu"))]
mod device_wgpu {
    use super::DeviceError;
    use burn::prelude::*;
    use mrcnn_config::{DeviceSpec, WgpuAdapter, WgpuApi};

    pub(crate) fn device(
        spec: DeviceSpec,
        _: WgpuAdapter,
        _: Option<WgpuApi>,
    ) -> Result<Device, DeviceError> {
        Err(DeviceError::NotBuilt { spec })
    }
}

/// A wgpu device that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No adapter of the requested kind on the APIs that were looked at.
    #[error(
        "device \"{spec}\": no such wgpu adapter on {apis}{found}; use --device cpu, install a \
         Vulkan driver (on Linux without a GPU: Mesa's lavapipe, Debian `mesa-vulkan-drivers`), \
         or name another API (e.g. wgpu:gl, which is not tested and can hang)"
    )]
    NoAdapter {
        spec: DeviceSpec,
        apis: String,
        /// What was found instead, e.g. `; found: llvmpipe (Vulkan, cpu)`.
        found: String,
    },
    /// wgpu found the adapter but could not start it.
    #[cfg(feature = "wgpu")]
    #[error("device \"{spec}\": {source}")]
    Init {
        spec: DeviceSpec,
        #[source]
        source: burn::tensor::wgpu::WgpuInitError,
    },
    /// This build has no GPU backend (built without the `wgpu` cargo feature).
    #[cfg(not(feature = "wgpu"))]
    #[error(
        "device \"{spec}\": this mrcnn was built without the GPU backend (cargo feature `wgpu`, \
         on by default); use --device cpu, or build with default features: `cargo build \
         --release -p mrcnn`"
    )]
    NotBuilt { spec: DeviceSpec },
}

/// The Burn device of `spec`: flex for `cpu`, otherwise the wgpu adapter on a supported API.
/// The same spec always gives the same device.
pub fn device(spec: DeviceSpec) -> Result<Device, DeviceError> {
    let DeviceSpec::Wgpu { adapter, api } = spec else {
        return Ok(Device::flex());
    };
    device_wgpu::device(spec, adapter, api)
}

/// [`device`] of a device name.
pub fn device_by_name(name: &str) -> Result<Device, DeviceByNameError> {
    Ok(device(DeviceSpec::parse(name)?)?)
}

/// A device name that is not one, or a device that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum DeviceByNameError {
    #[error(transparent)]
    Name(#[from] mrcnn_config::UnknownDevice),
    #[error(transparent)]
    Device(#[from] DeviceError),
}
