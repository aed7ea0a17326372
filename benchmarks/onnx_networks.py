"""ONNX exports of torchvision's networks and the zoo's FC100-100-10, read back: agreement with torch and speed.

For each network: exported with torch's TorchScript-based exporter at a batch of 1 (as most users' files are), read
with the application's loader (load_own_network), then the largest difference of the logits on 4 random images
relative to the largest logit, the time to load, and the time of one forward and backward pass through the converted
graph against the torch module itself (the search's inner step), fastest of 5.
Run: python benchmarks/onnx_networks.py [--networks resnet18,mobilenet_v3_small,...]
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torchvision

from blindspot_gui import api
from blindspot_gui.core.models.own_network import load_own_network

DEFAULT = "fc100-100-10,resnet18,mobilenet_v3_small,efficientnet_b0,squeezenet1_0,densenet121,googlenet," \
          "shufflenet_v2_x0_5,regnet_x_400mf,convnext_tiny"


def network(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    if name == "fc100-100-10":
        return api.load_model("FC100-100-10"), (1, 28, 28)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = getattr(torchvision.models, name)(num_classes=1000)
    return built.eval(), (3, 224, 224)


def fastest(step, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times)


def gradient_step(model, images) -> None:
    pixels = images.clone().requires_grad_(True)
    model(pixels).logsumexp(1).sum().backward()


def measure(name: str, folder: Path) -> str:
    module, shape = network(name)
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.rand(1, *shape), str(path), dynamo=False)
    started = time.perf_counter()
    loaded = load_own_network(path, preprocessing=None if shape[0] == 1 else "none")
    load_seconds = time.perf_counter() - started
    images = torch.rand(4, *shape)
    with torch.no_grad():
        ours, theirs = loaded(images), module(images)
    relative = float((ours - theirs).abs().max() / theirs.abs().max())
    onnx_step = fastest(lambda: gradient_step(loaded, images))
    torch_step = fastest(lambda: gradient_step(module, images))
    return (f"| {name} | {relative:.1e} | {load_seconds:.1f} s | {1000 * onnx_step:.0f} ms | {1000 * torch_step:.0f} ms "
            f"| {onnx_step / torch_step:.2f} | {loaded.description.removeprefix('ONNX model; ') or '—'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=DEFAULT)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 4 images a step")
    print("| network | largest logit difference / largest logit | load | step, ONNX | step, torch | ratio | notes |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="blindspot-onnx-") as folder:
        for name in args.networks.split(","):
            print(measure(name, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
