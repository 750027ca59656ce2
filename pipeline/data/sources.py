"""Where raw data comes from: a local path or an http(s) URL, and the checksum that pins its bytes."""

from __future__ import annotations

import hashlib
import http.client
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import DataError

DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme.lower() in {"http", "https"}


def resolve_path(source: str, root: Path) -> Path:
    """A local file or folder, relative to the repository root unless absolute."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise DataError(f"{source}: unsupported URL scheme; expected a local path or http(s)")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise DataError(f"{source}: not found (looked for {path})")
    if not (path.is_file() or path.is_dir()):
        raise DataError(f"{source}: not a file or folder ({path})")
    return path


def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` into ``dest``; any HTTP or network failure is a DataError naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": "dl-pipeline-ingest"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            announced = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: download failed: {exc.reason}") from exc
    except TimeoutError as exc:
        raise DataError(f"{url}: download failed: no answer within {timeout:g} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise DataError(f"{url}: download failed: {type(exc).__name__}: {exc}") from exc
    if announced is not None and announced.isdigit() and received != int(announced):
        raise DataError(f"{url}: download incomplete: received {received} of {announced} bytes")


@contextmanager
def fetched(source: str, root: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Iterator[Path]:
    """A local file holding the source's bytes; a download lives in a temporary folder until exit."""
    if not is_url(source):
        yield resolve_path(source, root)
        return
    name = Path(urllib.parse.urlsplit(source).path).name or "download"
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        dest = Path(tmp) / name
        download(source, dest, timeout)
        yield dest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(source: str, actual: str, expected: str | None) -> None:
    if expected and actual.lower() != expected.strip().lower():
        raise DataError(f"{source}: sha256 is {actual}, expected {expected.strip().lower()}")
