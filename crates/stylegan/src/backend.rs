//! The one place where the compute backend is chosen.
//!
//! burn's `Tensor` carries no backend type; the backend is picked at run time by the `Device`
//! a tensor lives on. Everything else in the library takes a `&Device`.

pub use burn::tensor::Device;

use crate::error::{Error, Result};

/// Which compute device to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// The CPU (burn-flex backend).
    Cpu,
    /// The first GPU through wgpu/Vulkan (needs the `gpu` cargo feature).
    Gpu,
}

impl std::str::FromStr for DeviceKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceKind::Cpu),
            "gpu" => Ok(DeviceKind::Gpu),
            other => Err(Error::InvalidArgument(format!(
                "unknown device '{other}' (expected cpu or gpu)"
            ))),
        }
    }
}

/// The burn device for `kind`.
pub fn device(kind: DeviceKind) -> Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::flex()),
        #[cfg(feature = "gpu")]
        DeviceKind::Gpu => Ok(Device::vulkan(burn::tensor::DeviceKind::DiscreteGpu(0))),
        #[cfg(not(feature = "gpu"))]
        DeviceKind::Gpu => Err(Error::InvalidArgument(
            "this build has no GPU backend: rebuild with `--features gpu` (wgpu/Vulkan)".into(),
        )),
    }
}

/// The default CPU device.
pub fn cpu() -> Device {
    Device::flex()
}

/// A tensor's values on the host as f32: the one place tensors come back to the host.
pub fn to_vec<const D: usize>(t: &burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Config(format!("tensor data: {e:?}")))
}
