"""Checks, before any Qt library is loaded, that Qt's platform plugin can load, and names the missing system libraries.

When a shared library that Qt's X11 plugin (libqxcb.so) needs is missing, Qt aborts with a
message that names only ``libxcb-cursor0``, whatever is really missing. Here the plugin's
dependencies are resolved the way the dynamic loader does (``ldd``), and each library reported
"not found" is listed with the Debian/Ubuntu package that provides it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libz.so.1": "zlib1g",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}
"""Sonames whose Debian package does not follow the usual naming rule."""

SYSTEM_PACKAGES = (
    "libegl1 libgl1 libfontconfig1 libglib2.0-0 libxkbcommon-x11-0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 "
    "libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1"
)
"""What the window needs on a minimal Debian/Ubuntu system (also listed in the README)."""


CHECKED_PLATFORMS = ("xcb", "wayland", "offscreen")
"""The plugins whose libraries are checked: a screen's (X11, Wayland) and the one screenshots and tests draw with."""


def debian_package(soname: str) -> str | None:
    """The Debian package that ships ``soname`` by the usual rule (libfoo-bar.so.4 -> libfoo-bar4, libfoo-1.so.3 -> libfoo-1-3).

    None for Qt's own libraries, which come with PySide6 rather than with the system.
    """
    if soname in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[soname]
    if soname.startswith("libQt6") or soname.startswith("libpyside") or soname.startswith("libshiboken"):
        return None
    match = re.fullmatch(r"(lib[\w.+-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match:
        return None
    stem, major = match.group(1).lower(), match.group(2)
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames that ``ldd`` reports as "not found", each once, in the order met."""
    found = re.findall(r"^\s*(\S+)\s*=>\s*not found", ldd_output, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def qt_plugins_dir() -> Path | None:
    """PySide6's platform plugin folder, found without loading any Qt library."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"


def chosen_platform(environ=os.environ) -> str:
    """The Qt platform plugin that will be used: QT_QPA_PLATFORM, else wayland or xcb from the session."""
    requested = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip()
    if requested:
        return requested
    if environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"):
        return "wayland"
    return "xcb"


def unresolved(plugin: Path) -> list[str] | None:
    """Libraries that ``plugin`` needs and the loader cannot find; None when that cannot be told (no ldd)."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return None
    try:
        done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return missing_libraries(done.stdout + done.stderr)


def missing_for_window(environ=os.environ, plugins: Path | None = None) -> tuple[str, list[str]]:
    """(platform, missing sonames) for the platform plugin Qt is about to load; nothing missing off Linux."""
    platform = chosen_platform(environ)
    if not sys.platform.startswith("linux") or platform not in CHECKED_PLATFORMS:
        return platform, []
    plugins = plugins if plugins is not None else qt_plugins_dir()
    if plugins is None:
        return platform, []
    return platform, unresolved(plugins / f"libq{platform}.so") or []


def missing_libraries_message(platform: str, missing: list[str]) -> str:
    """One message: what is missing, the packages to install, and a way to run without a display."""
    packages = sorted({package for name in missing if (package := debian_package(name))})
    qt_own = [name for name in missing if debian_package(name) is None]
    lines = [f"blindspot-gui: the window cannot open: Qt's '{platform}' platform plugin needs system libraries "
             f"that are missing: {', '.join(missing)}."]
    if packages:
        lines.append(f"On Debian or Ubuntu install them with:  sudo apt-get install {' '.join(packages)}")
    if qt_own:
        lines.append(f"{', '.join(qt_own)} belong to PySide6 itself: reinstall it (pip install --force-reinstall "
                     f"PySide6) in the same environment as blindspot-gui.")
    lines.append("All the window needs on a minimal Debian/Ubuntu system: " + SYSTEM_PACKAGES + ".")
    lines.append("The command line (`blindspot`) works without them.")
    return "\n".join(lines)
