//! Which flex backend a tensor is on: the CPU ops of this crate (`*_flex.rs`) take f32 tensors
//! of flex, plain (inference) or under autodiff without gradient checkpointing.

use burn::prelude::*;
use burn::tensor::DType;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_flex::Flex;

/// Flex under autodiff, as the custom ops register themselves.
pub(crate) type Ad = Autodiff<Flex, NoCheckpointing>;

/// The flex backend of a tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum On {
    Autodiff,
    Plain,
}

/// The flex backend of an f32 tensor; `None` for other backends and dtypes.
pub(crate) fn on<const D: usize>(t: &Tensor<D>) -> Option<On> {
    if t.dtype() != DType::F32 {
        None
    } else if t.clone().try_into_primitive::<Ad>().is_ok() {
        Some(On::Autodiff)
    } else if t.clone().try_into_primitive::<Flex>().is_ok() {
        Some(On::Plain)
    } else {
        None
    }
}
