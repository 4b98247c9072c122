//! dfdx's CUDA device: every op is the composite one (dfdx keeps a tensor's device memory
//! crate-private, so no kernel of ours can reach it); Adam keeps its moments on the
//! device ([`crate::nn::optim::Adam::update_on_device`]).

use super::{DeviceError, DeviceKind, ModelDevice};
use dfdx::prelude::*;

impl ModelDevice for Cuda {
    const KIND: DeviceKind = DeviceKind::Cuda;
}

/// Opens GPU `ordinal`, its random numbers seeded with 0 (the model's initial weights
/// are drawn on the CPU and copied, so they do not depend on the device).
pub fn open(ordinal: usize) -> Result<Cuda, DeviceError> {
    Cuda::try_build(ordinal, 0).map_err(|e| {
        DeviceError(format!(
            "cannot open CUDA device {ordinal}: {e:?}; check `nvidia-smi` and the driver, or train with --device cpu"
        ))
    })
}
