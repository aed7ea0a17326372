"""Downloading a catalogue network's weights into the torch hub cache: only on request, checked, cancellable."""

from __future__ import annotations

import hashlib
import http.client
import os
import queue
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from blindspot_gui.core.models.photo_catalogue import find_photo_model
from blindspot_gui.core.models.weights_io import WeightsError, first_line
from blindspot_gui.core.monitor import Monitor

DOWNLOAD_TIMEOUT = 15
"""Seconds a download waits for data from the server before it gives up (offline machines fail fast)."""
READ_TIMEOUT = 10
"""Seconds one connection attempt or read from the server may take (the socket's timeout)."""
DOWNLOAD_CHUNK = 1 << 16


def download_weights(name: str, monitor: Monitor | None = None) -> Path:
    """Download a torchvision entry's weights into the torch hub cache, with progress; only ever called on request.

    The file is checked against the SHA-256 prefix in its name and moved into place only when
    complete; any failure (offline, timeout, bad file) leaves nothing behind and raises a
    :class:`WeightsError` with the reason. A Cancel on ``monitor`` raises ``Cancelled`` within a
    fraction of a second, whatever the server does, and also leaves nothing behind.
    """
    monitor = monitor or Monitor()
    entry = find_photo_model(name)
    if entry.url is None:
        raise WeightsError(f"{entry.name}'s weights come with its package; there is nothing to download.")
    target = entry.cache_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as error:
        raise WeightsError(f"Cannot write {entry.name}'s weights into '{target.parent}': {first_line(error)}.") from None
    os.close(handle)
    partial = Path(name)  # unique, so that a second download of the same file cannot remove this one's
    try:
        digest = _fetch(entry.url, partial, monitor)
        expected = re.search(r"-([a-f0-9]{8,})\.", target.name)
        if expected and not digest.startswith(expected.group(1)):
            raise WeightsError(f"the downloaded file for {entry.name} is damaged (its checksum does not match)")
        partial.replace(target)
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as error:
        raise WeightsError(f"Could not download {entry.name}'s weights from {entry.url}: "
                           f"{first_line(getattr(error, 'reason', error))}. Is this machine online?") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _fetch(url: str, destination: Path, monitor: Monitor) -> str:
    """Stream ``url`` to ``destination``, reporting progress; returns the SHA-256 hex digest.

    The connection is read by a daemon thread (:class:`_Download`) while this one waits on it
    in steps of 0.1 s, checking ``monitor``: a Cancel takes effect at once even while the server
    is silent or trickles bytes, and the download fails after :data:`DOWNLOAD_TIMEOUT` seconds
    without data (offline, a silent server, a name lookup that hangs).
    """
    digest = hashlib.sha256()
    download = _Download(url)
    download.start()
    try:
        with open(destination, "wb") as stream:
            done = 0
            for chunk, total in download.chunks(monitor):
                stream.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                monitor.progress(done / total if total else 0.0, f"downloaded {done / 1e6:.0f} of {total / 1e6:.0f} MB")
    finally:
        download.stop()
    return digest.hexdigest()


class _Download(threading.Thread):
    """Reads a URL into a small queue from a daemon thread, so that the thread waiting for the bytes stays cancellable.

    It puts the size the server announces (an int), then chunks of bytes, then None at the end,
    or the exception that stopped it. Once stopped it ends at its next read (at most
    :data:`READ_TIMEOUT` seconds later) and never keeps the application from exiting.
    """

    def __init__(self, url: str):
        super().__init__(name="blindspot-download", daemon=True)
        self.url = url
        self.items: queue.Queue = queue.Queue(maxsize=16)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=READ_TIMEOUT) as response:
                self._put(_content_length(response.headers.get("Content-Length")))
                while not self.stopped.is_set() and (chunk := response.read1(DOWNLOAD_CHUNK)):
                    self._put(chunk)
            self._put(None)
        except BaseException as error:  # handed to the waiting thread, which raises it there
            self._put(error)

    def _put(self, item) -> None:
        while not self.stopped.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        self.stopped.set()

    def chunks(self, monitor: Monitor):
        """Yield (bytes, announced total size or 0) until the end; raises what stopped the reading, or Cancelled."""
        total, last_data = 0, time.monotonic()
        while True:
            monitor.check()
            try:
                item = self.items.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last_data > DOWNLOAD_TIMEOUT:
                    raise TimeoutError(f"no data from the server for {DOWNLOAD_TIMEOUT} s") from None
                continue
            last_data = time.monotonic()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, int):
                total = item
                continue
            yield item, total


def _content_length(header: str | None) -> int:
    """The size a server announces, 0 when it announces none or nonsense."""
    try:
        return max(int(header or 0), 0)
    except ValueError:
        return 0


