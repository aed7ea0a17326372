"""The application's place on a Linux desktop: its icon and a freedesktop launcher written into the user's data folders.

``blindspot-gui --install-launcher`` writes ``applications/blindspot-gui.desktop`` and the icon in
every size (``icons/hicolor/<size>/apps``, and the SVG under ``scalable``) below
``$XDG_DATA_HOME`` (default ``~/.local/share``), the entry pointing at the executable that ran it,
so the application appears in the desktop's menu, can be pinned, and opens an image file given to
it ("Open with": ``%f``). ``--uninstall-launcher`` removes exactly those files. Qt-free.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from blindspot_gui.core.files import atomic_write, atomic_write_text, os_reason
from blindspot_gui.core.resources import resource_path

APP_ID = "blindspot-gui"
"""The executable's, the desktop file's and the icon's name: desktops group the windows by it."""
DISPLAY_NAME = "Blindspot Explorer"
COMMENT = "See, explain and reproduce the blind spots of neural networks"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/webp", "image/gif", "image/tiff")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icon_files() -> dict[str, Path]:
    """The icon's files by size ("16", ..., "512", "scalable")."""
    files = {str(size): resource_path("icons", f"{APP_ID}-{size}.png") for size in ICON_SIZES}
    return files | {"scalable": resource_path("icons", f"{APP_ID}.svg")}


def data_home(environ=os.environ) -> Path:
    """``$XDG_DATA_HOME`` when it is an absolute path (the specification ignores a relative one), else
    ``~/.local/share``."""
    given = environ.get("XDG_DATA_HOME", "")
    return Path(given) if given and Path(given).is_absolute() else Path.home() / ".local" / "share"


def launcher_executable() -> Path:
    """The program the launcher starts: the bundle's executable when frozen, else the ``blindspot-gui`` script beside
    this Python (a virtual environment's bin folder), else the one on PATH."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve()
    beside = Path(sys.executable).parent / APP_ID
    if beside.is_file():
        return beside
    found = shutil.which(APP_ID)
    if found is None:
        raise FileNotFoundError(f"no {APP_ID} program found beside {sys.executable} or on PATH: install the "
                                "application first (pip install .), then run its --install-launcher")
    return Path(found).resolve()


EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
"""Characters that oblige an Exec argument to be quoted (Desktop Entry Specification, "The Exec key")."""


def exec_argument(text: str) -> str:
    """``text`` as one argument of an Exec key: in double quotes where it holds a reserved character (", `, $ and \\
    escaped inside them), a literal % doubled, and each backslash doubled again as the key's string value asks."""
    quoted = text
    if EXEC_RESERVED & set(text):
        quoted = '"' + "".join("\\" + char if char in '"`$\\' else char for char in text) + '"'
    return quoted.replace("%", "%%").replace("\\", "\\\\")


def desktop_entry(executable: Path) -> str:
    """The freedesktop entry (Desktop Entry Specification, version key 1.0 as validators know it) of the application started by ``executable``."""
    command = exec_argument(str(executable))
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={DISPLAY_NAME}",
        "GenericName=Neural network blind-spot explorer",
        f"Comment={COMMENT}",
        f"Exec={command} %f",
        f"TryExec={executable}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Science;ArtificialIntelligence;",
        f"MimeType={';'.join(IMAGE_TYPES)};",
        f"StartupWMClass={APP_ID}",
        "Keywords=adversarial;neural network;MNIST;L-BFGS;",
        "",
    ])


def launcher_files(home: Path) -> dict[Path, Path | None]:
    """{where: what} of every file the launcher puts below ``home`` (None: the desktop entry, written, not copied)."""
    files: dict[Path, Path | None] = {home / "applications" / f"{APP_ID}.desktop": None}
    for size, source in icon_files().items():
        folder = "scalable" if size == "scalable" else f"{size}x{size}"
        files[home / "icons" / "hicolor" / folder / "apps" / source.name.replace(f"-{size}", "")] = source
    return files


def install_launcher(home: Path | None = None, executable: Path | None = None) -> list[Path]:
    """Write the icons, then the desktop entry, below ``home`` (default: ``data_home()``); the paths written, the entry
    first. Where a write fails, what was written is removed again (no menu entry without its icon) and the error is
    raised."""
    home = data_home() if home is None else home
    entry = desktop_entry(executable or launcher_executable())
    written = []
    try:
        for target, source in sorted(launcher_files(home).items(), key=lambda item: item[1] is None):
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                atomic_write_text(target, entry)
            else:
                atomic_write(target, lambda stream, source=source: stream.write(source.read_bytes()))
            written.append(target)
    except OSError:
        for target in written:
            target.unlink(missing_ok=True)
        raise
    return written[-1:] + written[:-1]  # the entry first, then the icons


def uninstall_launcher(home: Path | None = None) -> list[Path]:
    """Remove the desktop entry and the icons that ``install_launcher`` writes below ``home``; the paths removed."""
    home = data_home() if home is None else home
    removed = []
    for target in launcher_files(home):
        if target.is_file():
            target.unlink()
            removed.append(target)
    return removed


def change_launcher(install: bool) -> tuple[bool, str]:
    """Install or remove the launcher in the user's data folder: (done, one sentence saying what happened or why not),
    for the command line's --install-launcher and the window's Help menu alike."""
    verb = "install" if install else "remove"
    if not sys.platform.startswith("linux"):
        return False, (f"cannot {verb} a launcher here: the applications menu entry is a Linux (freedesktop) one; "
                       f"on this system make a shortcut to {launcher_executable_text()} instead")
    try:
        paths = install_launcher() if install else uninstall_launcher()
    except OSError as error:  # a data folder that is a file, a read-only home, no program to point at
        return False, f"could not {verb} the launcher below {data_home()}: {os_reason(error)}"
    if install:
        return True, (f"added to the applications menu ({paths[0]}) with its icon "
                      f"({len(paths) - 1} files); remove it with --uninstall-launcher or Help ▸ Remove from the "
                      "applications menu")
    if paths:
        return True, f"removed {len(paths)} files of the launcher from the applications menu"
    return True, f"no launcher was installed below {data_home()}"


def launcher_executable_text() -> str:
    """The program a shortcut should start, or what to install first when there is none."""
    try:
        return str(launcher_executable())
    except FileNotFoundError:
        return f"the {APP_ID} program (install the application first)"
