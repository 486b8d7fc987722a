//! ReLU, and the ReLU of a sum that ends a residual block, for every stage: one parallel pass
//! with its own backward on the CPU backend (`relu_flex`), Burn's ops elsewhere.

use crate::relu_flex;
use burn::prelude::*;
use burn::tensor::activation;

/// `max(x, 0)`.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if relu_flex::applies(&x, None) {
        relu_flex::add_relu(x, None)
    } else {
        activation::relu(x)
    }
}

/// `max(a + b, 0)`, `b` of `a`'s shape.
pub fn add_relu<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if relu_flex::applies(&a, Some(&b)) {
        relu_flex::add_relu(a, Some(b))
    } else {
        activation::relu(a + b)
    }
}
