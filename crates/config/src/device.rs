//! Device names, as experiments and `--device` write them. The grammar lives here (no Burn in
//! this crate); `mrcnn-core` turns a [`DeviceSpec`] into a Burn device.

use std::fmt;
use std::str::FromStr;

/// Which wgpu adapter: wgpu's own adapter kinds, each with its index among the adapters of that
/// kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WgpuAdapter {
    /// The best adapter wgpu finds (a high-power GPU first).
    Default,
    Discrete(usize),
    Integrated(usize),
    Virtual(usize),
    /// A software adapter (Mesa's lavapipe, for instance).
    Cpu,
}

/// The graphics API a wgpu device runs on. Without one, the device is looked for on the APIs
/// this project supports and tests (Vulkan, Metal, DX12, in that order); OpenGL only when asked
/// for by name (`wgpu:gl`), since compute on it is not reliable (Mesa's llvmpipe hangs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WgpuApi {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl WgpuApi {
    /// The names, as in device names (`wgpu:vulkan:0`).
    pub const NAMES: [(&'static str, WgpuApi); 4] = [
        ("vulkan", WgpuApi::Vulkan),
        ("metal", WgpuApi::Metal),
        ("dx12", WgpuApi::Dx12),
        ("gl", WgpuApi::Gl),
    ];

    /// The supported APIs, tried in this order when a name does not pin one.
    pub const SUPPORTED: [WgpuApi; 3] = [WgpuApi::Vulkan, WgpuApi::Metal, WgpuApi::Dx12];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| *n)
            .expect("listed")
    }
}

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// The CPU (Burn's flex backend).
    Cpu,
    /// A wgpu adapter, on `api` or the first supported API that has it.
    Wgpu {
        adapter: WgpuAdapter,
        api: Option<WgpuApi>,
    },
}

/// A device name that is not one of [`DEVICE_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device \"{name}\": use {}", DEVICE_NAMES)]
pub struct UnknownDevice {
    pub name: String,
}

/// What the error messages list.
pub const DEVICE_NAMES: &str = "\"cpu\", \"wgpu\", \"wgpu:N\" (discrete GPU N), \
     \"wgpu:integrated:N\", \"wgpu:virtual:N\" or \"wgpu:cpu\" (a software adapter), each \
     optionally with a graphics API after \"wgpu:\" (\"wgpu:vulkan:0\"; vulkan, metal, dx12, or \
     gl when asked for by name)";

impl DeviceSpec {
    /// `cpu` (or `flex`), `wgpu`, `wgpu:N` (= `wgpu:discrete:N`), `wgpu:integrated:N`,
    /// `wgpu:virtual:N`, `wgpu:cpu`, each wgpu name optionally with an API after `wgpu:`
    /// (`wgpu:vulkan`, `wgpu:gl:cpu`); the error says what is accepted.
    pub fn parse(name: &str) -> Result<Self, UnknownDevice> {
        let index = |n: &str| {
            n.parse::<usize>()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
        };
        let adapter = |rest: &str| match rest {
            "cpu" => Some(WgpuAdapter::Cpu),
            rest => {
                let (kind, n) = rest.split_once(':').unwrap_or(("discrete", rest));
                let i = index(n)?;
                match kind {
                    "discrete" => Some(WgpuAdapter::Discrete(i)),
                    "integrated" => Some(WgpuAdapter::Integrated(i)),
                    "virtual" => Some(WgpuAdapter::Virtual(i)),
                    _ => None,
                }
            }
        };
        let spec = match name {
            "cpu" | "flex" => Some(DeviceSpec::Cpu),
            "wgpu" => Some(DeviceSpec::Wgpu {
                adapter: WgpuAdapter::Default,
                api: None,
            }),
            other => other.strip_prefix("wgpu:").and_then(|rest| {
                let (first, after) = match rest.split_once(':') {
                    Some((f, a)) => (f, Some(a)),
                    None => (rest, None),
                };
                match (WgpuApi::NAMES.iter().find(|(n, _)| *n == first), after) {
                    (Some((_, api)), None) => Some(DeviceSpec::Wgpu {
                        adapter: WgpuAdapter::Default,
                        api: Some(*api),
                    }),
                    (Some((_, api)), Some(after)) => {
                        adapter(after).map(|adapter| DeviceSpec::Wgpu {
                            adapter,
                            api: Some(*api),
                        })
                    }
                    (None, _) => {
                        adapter(rest).map(|adapter| DeviceSpec::Wgpu { adapter, api: None })
                    }
                }
            }),
        };
        spec.ok_or_else(|| UnknownDevice {
            name: name.to_string(),
        })
    }
}

impl FromStr for DeviceSpec {
    type Err = UnknownDevice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (adapter, api) = match self {
            DeviceSpec::Cpu => return write!(f, "cpu"),
            DeviceSpec::Wgpu { adapter, api } => (adapter, api),
        };
        write!(f, "wgpu")?;
        if let Some(api) = api {
            write!(f, ":{}", api.name())?;
        }
        match adapter {
            WgpuAdapter::Default => Ok(()),
            WgpuAdapter::Discrete(i) => write!(f, ":{i}"),
            WgpuAdapter::Integrated(i) => write!(f, ":integrated:{i}"),
            WgpuAdapter::Virtual(i) => write!(f, ":virtual:{i}"),
            WgpuAdapter::Cpu => write!(f, ":cpu"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "cpu",
            "wgpu",
            "wgpu:0",
            "wgpu:12",
            "wgpu:integrated:1",
            "wgpu:virtual:0",
            "wgpu:cpu",
            "wgpu:vulkan",
            "wgpu:gl:cpu",
            "wgpu:dx12:integrated:2",
            "wgpu:metal:1",
        ] {
            let spec = DeviceSpec::parse(name).unwrap();
            assert_eq!(spec.to_string(), name);
        }
        assert_eq!(
            DeviceSpec::parse("wgpu:discrete:3").unwrap(),
            DeviceSpec::Wgpu {
                adapter: WgpuAdapter::Discrete(3),
                api: None
            }
        );
        assert_eq!(
            DeviceSpec::parse("wgpu:gl").unwrap(),
            DeviceSpec::Wgpu {
                adapter: WgpuAdapter::Default,
                api: Some(WgpuApi::Gl)
            }
        );
        assert_eq!(DeviceSpec::parse("flex").unwrap(), DeviceSpec::Cpu);
    }

    #[test]
    fn bad_names_say_what_is_accepted() {
        for bad in [
            "cuda",
            "wgpu:",
            "wgpu:x",
            "CPU",
            "",
            "wgpu:-1",
            "wgpu:+1",
            "wgpu:gpu:1",
            "wgpu:integrated:",
            "cpu:0",
            "wgpu:gl:",
            "wgpu:opengl",
            "wgpu:vulkan:x",
        ] {
            let e = DeviceSpec::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("\"{bad}\"")) && e.contains("wgpu:N"),
                "{e}"
            );
        }
    }
}
