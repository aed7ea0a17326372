"""The same work on the CPU and on a CUDA GPU: wall time of each, their ratio, and how far the results differ.

Measured: the batched search on 1000 MNIST test digits (FC100-100-10) and 200 (the ConvNet), one EfficientNet-Lite0
photo search, capturing a ConvNet layer's activations on the 10,000 test digits, training FC100-100-10 on 10,000
digits, and Table 2 at --n (every part computed, in a fresh part store). The CPU runs with torch's default thread
count except Table 2, which computes with attacked.EXPERIMENT_THREADS as every table does. Each measurement runs
once after a warm-up call (Table 2's at n = 10), alone; compare the ratios, not the absolute times, between machines.
Without a GPU it says so and measures nothing.
Run: python benchmarks/gpu_speed.py [--n 1000] [--device cuda]
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from blindspot_gui.core import experiments
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.core.training.loop import predict_labels
from blindspot_gui.core.training.plain import train_model
from blindspot_gui.core.units import capture_activations


def timed(work, device: str) -> tuple[object, float]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = work(device)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - started


def digit_search(name: str, count: int, device: str) -> float:
    data = load_mnist("test").subset(range(count))
    results = blindspot_search(load_zoo_model(name, device=device), data.images, "next", data.labels)
    return float(np.mean([result.distortion for result in results if result.success]))


def photo_search(device: str) -> float:
    photo = next(photo for photo in sample_photos() if photo.path.name == "coffee.png")
    pixels = torch.from_numpy(read_photo(photo.path))[None]
    model = load_photo_model("efficientnet-lite0").to(device)
    return blindspot_search(model, pixels, 9, predict_labels(model, pixels))[0].distortion


def units(device: str) -> float:
    activations = capture_activations(load_zoo_model("conv", device=device), load_mnist("test"), "relu1")
    return float(activations.values.double().sum())


def training(device: str) -> float:
    data = load_mnist("train").subset(range(10000))
    return train_model(find_spec("fc100-100-10"), device=device, data=data).metadata["errors"]["test"]


def table2(n: int, device: str) -> float:
    before = os.environ.get("BLINDSPOT_HOME")
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-") as home:
        os.environ["BLINDSPOT_HOME"] = home  # an empty part store: every part is computed
        try:
            result = experiments.table2(n, device=device)
        finally:
            os.environ.pop("BLINDSPOT_HOME") if before is None else os.environ.update(BLINDSPOT_HOME=before)
    return float(np.mean([row["distortion"] for row in result["rows"] if row["distortion"] is not None]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images per network of Table 2")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to measure")
        return
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    works = {"search FC100-100-10, 1000 digits": lambda device: digit_search("fc100-100-10", 1000, device),
             "search ConvNet, 200 digits": lambda device: digit_search("conv", 200, device),
             "search EfficientNet-Lite0, 1 photo": photo_search,
             "units: ConvNet relu1 on 10,000 digits": units,
             "train FC100-100-10 on 10,000 digits": training,
             f"table 2, n = {args.n}": lambda device, n=args.n: table2(n, device)}
    print(f"{'work':42} {'cpu s':>8} {args.device + ' s':>8} {'speed-up':>9}  result cpu / {args.device}")
    for title, work in works.items():
        warm_up = (lambda device: table2(10, device)) if title.startswith("table 2") else work
        warm_up(args.device)  # the CUDA context, kernels, weights and data read once
        on_cpu, cpu_seconds = timed(work, "cpu")
        on_gpu, gpu_seconds = timed(work, args.device)
        print(f"{title:42} {cpu_seconds:8.2f} {gpu_seconds:8.2f} {cpu_seconds / gpu_seconds:8.1f}x  "
              f"{on_cpu:.6g} / {on_gpu:.6g}", flush=True)


if __name__ == "__main__":
    main()
