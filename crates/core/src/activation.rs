//! ReLU, and the ReLU of a sum that ends a residual block, for every stage: one parallel pass
//! with its own backward on the CPU backend (`relu_flex`), Burn's ops elsewhere.

use burn::prelude::*;
use burn::tensor::activation;

/// `max(x, 0)`.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    crate::relu_flex::try_add_relu(x, None).unwrap_or_else(|(x, _)| activation::relu(x))
}

/// `max(a + b, 0)`, `b` of `a`'s shape.
pub fn add_relu<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    crate::relu_flex::try_add_relu(a, Some(b)).unwrap_or_else(|(a, b)| {
        activation::relu(a + b.expect("the second operand comes back with the first"))
    })
}
