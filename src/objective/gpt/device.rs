//! Which device a trial trains on: the CPU (the fused ops, the default) or a CUDA GPU
//! (candle's reference ops and an AdamW made of tensor ops, so nothing leaves the GPU
//! during a step). CUDA needs a build with `--features cuda`; asking for it elsewhere is
//! a clear error, never a silent fallback to the CPU.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

/// The device of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// The CPU, one thread per trial (fused ops).
    #[default]
    Cpu,
    /// CUDA GPU number `n` (reference ops).
    Cuda(usize),
}

impl DeviceChoice {
    /// Whether this is the CPU.
    pub fn is_cpu(self) -> bool {
        self == DeviceChoice::Cpu
    }

    /// Open the device. Fails with a message saying what to do when this build has no
    /// CUDA support or the GPU cannot be opened.
    pub fn open(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(format!(
                        "device {self}: this outerloop was built without CUDA support (build it with `cargo build --release --features cuda` on a machine with the CUDA toolkit)"
                    ));
                }
                // candle appends a backtrace to driver errors: the first line says it.
                Device::new_cuda(n).map_err(|e| {
                    format!("device {self}: cannot open the GPU: {}", e.to_string().lines().next().unwrap_or_default())
                })
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    /// `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown device `{s}`: use cpu, cuda or cuda:N");
        match s.trim() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceChoice::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_what_is_accepted() {
        for d in [DeviceChoice::Cpu, DeviceChoice::Cuda(0), DeviceChoice::Cuda(3)] {
            assert_eq!(d.to_string().parse::<DeviceChoice>(), Ok(d));
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:x", "metal"] {
            assert!(bad.parse::<DeviceChoice>().unwrap_err().contains("use cpu, cuda or cuda:N"), "{bad}");
        }
    }

    #[test]
    fn cuda_without_support_is_an_error_not_a_fallback() {
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        if !candle_core::utils::cuda_is_available() {
            let e = DeviceChoice::Cuda(0).open().unwrap_err();
            assert!(e.contains("built without CUDA support") && e.contains("--features cuda"), "{e}");
        }
    }
}
