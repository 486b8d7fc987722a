//! Device names, as experiments and `--device` write them. The grammar lives here (no Burn in
//! this crate); `mrcnn-train` turns a [`DeviceSpec`] into a Burn device.

use std::fmt;

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

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// The CPU (Burn's flex backend).
    Cpu,
    Wgpu(WgpuAdapter),
}

/// What the error messages list.
pub const DEVICE_NAMES: &str = "\"cpu\", \"wgpu\", \"wgpu:N\" (discrete GPU N), \
     \"wgpu:integrated:N\", \"wgpu:virtual:N\" or \"wgpu:cpu\" (a software adapter)";

impl DeviceSpec {
    /// `cpu` (or `flex`), `wgpu`, `wgpu:N` (= `wgpu:discrete:N`), `wgpu:integrated:N`,
    /// `wgpu:virtual:N`, `wgpu:cpu`; the error says what is accepted.
    pub fn parse(name: &str) -> Result<Self, String> {
        let index = |n: &str| {
            n.parse::<usize>()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
        };
        let spec = match name {
            "cpu" | "flex" => Some(DeviceSpec::Cpu),
            "wgpu" => Some(DeviceSpec::Wgpu(WgpuAdapter::Default)),
            "wgpu:cpu" => Some(DeviceSpec::Wgpu(WgpuAdapter::Cpu)),
            other => other.strip_prefix("wgpu:").and_then(|rest| {
                let (kind, n) = rest.split_once(':').unwrap_or(("discrete", rest));
                let i = index(n)?;
                match kind {
                    "discrete" => Some(WgpuAdapter::Discrete(i)),
                    "integrated" => Some(WgpuAdapter::Integrated(i)),
                    "virtual" => Some(WgpuAdapter::Virtual(i)),
                    _ => None,
                }
                .map(DeviceSpec::Wgpu)
            }),
        };
        spec.ok_or_else(|| format!("unknown device \"{name}\": use {DEVICE_NAMES}"))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Default) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Wgpu(WgpuAdapter::Integrated(i)) => write!(f, "wgpu:integrated:{i}"),
            DeviceSpec::Wgpu(WgpuAdapter::Virtual(i)) => write!(f, "wgpu:virtual:{i}"),
            DeviceSpec::Wgpu(WgpuAdapter::Cpu) => write!(f, "wgpu:cpu"),
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
        ] {
            let spec = DeviceSpec::parse(name).unwrap();
            assert_eq!(spec.to_string(), name);
        }
        assert_eq!(
            DeviceSpec::parse("wgpu:discrete:3").unwrap(),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(3))
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
        ] {
            let e = DeviceSpec::parse(bad).unwrap_err();
            assert!(
                e.contains(&format!("\"{bad}\"")) && e.contains("wgpu:N"),
                "{e}"
            );
        }
    }
}
