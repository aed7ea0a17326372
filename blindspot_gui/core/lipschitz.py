"""Upper Lipschitz bounds of a network's layers (the paper's section 4.3 and Table 5).

A layer's bound is its operator norm, the largest singular value: exactly for fully connected
layers; for convolutions either the paper's Fourier form (stride 1: the largest singular value,
over a dense grid of frequencies, of the matrix of the kernels' 2-D DFTs; its supremum over all
frequencies bounds the zero-padded convolution) or power iteration on the real
convolution operator (any stride, padding or grouping). ReLU and max-pooling are 1-Lipschitz, a
sigmoid 1/4-Lipschitz, an eval-mode batch norm scales each channel; for a chain of layers the
network's bound is the product of its layers' bounds (not for networks with skip connections).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn

from blindspot_gui.core.monitor import Monitor

POWER_ITERATIONS = 100


@dataclass(frozen=True)
class LayerBound:
    """One layer's upper bound, how it was computed, and the input shape it applies to."""

    name: str
    kind: str
    bound: float
    method: str
    input_shape: tuple[int, ...]
    stride: int | None = None


def matrix_norm(weight: torch.Tensor) -> float:
    """Largest singular value of a weight matrix (a 1x1 convolution's kernel read as one)."""
    return float(torch.linalg.matrix_norm(weight.detach().double().flatten(1), ord=2))


def linear_norm(layer: nn.Linear) -> float:
    """Largest singular value of the weight matrix."""
    return matrix_norm(layer.weight)


def conv_norm_fourier(layer: nn.Conv2d, height: int, width: int) -> float:
    """sup over frequencies of the largest singular value of the kernels' DFT matrix (stride-1 convolutions)."""
    if layer.stride != (1, 1) or layer.groups != 1 or layer.dilation != (1, 1):
        raise ValueError("the Fourier bound applies to stride-1, ungrouped, undilated convolutions only")
    kernel = layer.weight.detach().double()
    # Sample the frequencies twice as densely as the input (at least 16 per axis), so the maximum
    # approaches the supremum over all frequencies, which bounds the zero-padded convolution.
    spectrum = torch.fft.fft2(kernel, s=(max(16, 2 * height, kernel.shape[2]), max(16, 2 * width, kernel.shape[3])))
    matrices = spectrum.permute(2, 3, 0, 1).reshape(-1, kernel.shape[0], kernel.shape[1])
    return float(torch.linalg.svdvals(matrices).amax())


def operator_norm_power(operator, input_shape: tuple[int, ...], iterations: int = POWER_ITERATIONS,
                        seed: int = 0) -> float:
    """Largest singular value of a linear map by power iteration on A^T A (A^T through autograd)."""
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn((1, *input_shape), generator=generator, dtype=torch.float64)
    vector /= vector.norm()
    value = 0.0
    for _ in range(iterations):
        vector.requires_grad_(True)
        image = operator(vector)
        (back,) = torch.autograd.grad(image, vector, grad_outputs=image)  # A^T A v
        value = float(back.norm())
        vector = (back / back.norm()).detach()
    return value ** 0.5


def conv_norm_power(layer: nn.Conv2d, input_shape: tuple[int, ...]) -> float:
    """Operator norm of the real convolution as the layer computes it (its own padding, stride, groups), bias left out.

    The linear part is x -> layer(x) - layer(0), so a convolution subclass that pads in its own
    way (EfficientNet's "same" padding) is bounded as it runs.
    """
    origin = torch.zeros((1, *input_shape), dtype=layer.weight.dtype)
    with torch.no_grad():
        offset = layer(origin)

    def operator(x):
        return layer(x) - offset

    return operator_norm_power(operator, input_shape)


def batch_norm_bound(layer: nn.BatchNorm2d) -> float:
    """An eval-mode batch norm scales channel c by gamma_c / sqrt(var_c + eps): its norm is the largest |scale|."""
    scale = torch.ones_like(layer.running_var) if layer.weight is None else layer.weight.detach()
    return float((scale / torch.sqrt(layer.running_var + layer.eps)).abs().max())


ACTIVATION_BOUNDS = {nn.ReLU: 1.0, nn.ReLU6: 1.0, nn.MaxPool2d: 1.0, nn.Flatten: 1.0, nn.Dropout: 1.0,
                     nn.Sigmoid: 0.25, nn.AdaptiveAvgPool2d: 1.0, nn.Identity: 1.0, nn.ZeroPad2d: 1.0,
                     nn.Hardswish: 1.5, nn.Hardsigmoid: 1 / 6, nn.SiLU: 1.1}
"""Slope bounds of the other layers. Averaging over non-overlapping windows (AlexNet's adaptive
pooling at 224x224, where it is the identity) is at most 1-Lipschitz; dropout is the identity in
eval mode, as is stochastic depth; zero padding adds zeros; hard-swish's slope peaks at 1.5 (x = 3), SiLU's at 1.0998."""


def activation_bounds() -> dict[type, float]:
    """ACTIVATION_BOUNDS, with torchvision's StochasticDepth (the identity in eval mode) where torchvision is loaded: a
    network that holds one has loaded it, and importing it here would cost a second at the window's start-up."""
    ops = sys.modules.get("torchvision.ops")
    return ACTIVATION_BOUNDS if ops is None else {**ACTIVATION_BOUNDS, ops.StochasticDepth: 1.0}


def layer_inputs(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """(name, module, input shape) of every leaf module a forward pass on ``input_shape`` goes through (and of every
    convolution with children of its own), in the model's order; a module used twice keeps its first input's shape."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record_shape(name):
        def hook(_module, args) -> None:
            shapes.setdefault(name, tuple(args[0].shape[1:]))
        return hook

    hooks = [module.register_forward_pre_hook(record_shape(name)) for name, module in _bounded_modules(model)]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=next(model.parameters()).dtype))
    finally:
        for hook in hooks:
            hook.remove()
    return [(name, module, shapes[name]) for name, module in model.named_modules() if name in shapes]


WEIGHT_MODULES = (nn.Linear, nn.Conv2d, nn.BatchNorm2d)
"""Modules whose bound is computed from their weights (the others have a known slope, ACTIVATION_BOUNDS)."""


def layer_bound(name: str, module: nn.Module, shape: tuple[int, ...], conv_method: str = "power") -> LayerBound | None:
    """One layer's bound for inputs of ``shape`` (None for a 1-Lipschitz activation, which changes no product)."""
    if isinstance(module, nn.Linear):
        return LayerBound(name, "linear", linear_norm(module), "largest singular value", shape)
    if isinstance(module, nn.BatchNorm2d):
        return LayerBound(name, "batchnorm", batch_norm_bound(module), "largest |gamma / sigma|", shape)
    if isinstance(module, nn.Conv2d):
        if _pointwise(module):
            value, method = matrix_norm(module.weight), "1x1: matrix norm"
        elif conv_method == "fourier" and _plain_stride_one(module) and _fourier_fits(module, shape):
            value, method = conv_norm_fourier(module, shape[1], shape[2]), "Fourier"
        else:
            value, method = conv_norm_power(module, shape), "power iteration"
        return LayerBound(name, "conv", value, method, shape, module.stride[0])
    factor = next((bound for kind, bound in activation_bounds().items() if isinstance(module, kind)), None)
    if factor is None:
        raise ValueError(f"no Lipschitz bound known for layer {name!r} ({type(module).__name__})")
    return None if factor == 1.0 else LayerBound(name, type(module).__name__.lower(), factor, "slope bound", shape)


def layer_bounds(model: nn.Module, input_shape: tuple[int, ...], conv_method: str = "power",
                 monitor: Monitor | None = None) -> list[LayerBound]:
    """Bounds of the layers of a sequential-style model that change a product of bounds, in order, for inputs of
    ``input_shape`` (Table 5 computes the same layer by layer, as parts: core/experiments/bounds.py).

    ``conv_method`` is "power" (any stride) or "fourier" (stride 1; falls back to power otherwise).
    Shapes are followed with a forward pass; every leaf module must be linear, conv or listed in
    ACTIVATION_BOUNDS. ``monitor`` hears progress and may cancel between layers.
    """
    monitor = monitor or Monitor()
    bounds = []
    modules = layer_inputs(model, input_shape)
    for position, (name, module, shape) in enumerate(modules):
        monitor.progress(position / len(modules), f"bounding {name}")
        monitor.check()
        bound = layer_bound(name, module, shape, conv_method)
        if bound is not None:
            bounds.append(bound)
    monitor.progress(1.0, "bounds done")
    return bounds


def _bounded_modules(model: nn.Module):
    """(name, module) of every leaf, and of every convolution with children of its own (whose insides are skipped)."""
    skipped: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in skipped):
            continue
        if isinstance(module, nn.Conv2d) and list(module.children()):
            skipped.append(name)
            yield name, module
        elif not list(module.children()):
            yield name, module


FOURIER_BUDGET = 2**30
"""Bytes the Fourier method's spectrum may take; a larger layer is bounded by power iteration instead."""


def _fourier_fits(layer: nn.Conv2d, shape: tuple[int, ...]) -> bool:
    """Whether the spectrum of all kernel pairs at twice the input size (complex128, copied once) fits the budget."""
    out_channels, in_channels = layer.weight.shape[:2]
    return 2 * 16 * out_channels * in_channels * max(16, 2 * shape[1]) * max(16, 2 * shape[2]) <= FOURIER_BUDGET


def _stride_one(layer: nn.Conv2d) -> bool:
    """Stride 1, ungrouped and undilated: the same kernel matrix applied at every pixel."""
    return layer.stride == (1, 1) and layer.groups == 1 and layer.dilation == (1, 1)


def _pointwise(layer: nn.Conv2d) -> bool:
    """A 1x1 stride-1 convolution applies one matrix at every pixel: its norm is that matrix's."""
    return layer.kernel_size == (1, 1) and _stride_one(layer)


def _plain_stride_one(layer: nn.Conv2d) -> bool:
    """A convolution the Fourier bound covers: stride 1 with zero padding of its own (not a padding subclass)."""
    return _stride_one(layer) and type(layer) is nn.Conv2d


def network_bound(bounds: list[LayerBound]) -> float:
    """The product of the layers' bounds: an upper bound on ||f(x) - f(x')|| / ||x - x'||."""
    product = 1.0
    for bound in bounds:
        product *= bound.bound
    return product
