"""``contested data fetch chaosnli``: download the official ChaosNLI v1.0 zip, verify, unpack.

The zip's own checksum is not published, so each data file inside it is checked against the
SHA-256 of the v1.0 release (the same hashes independent copies report). Files are unpacked into
a temporary sibling folder and moved into place in one rename: a failed or interrupted fetch never
leaves a half-filled ``chaosnli_v1.0/``. Offline, the download fails within ``timeout`` seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from contested.data.sources import resolve_data_dir
from contested.errors import ContestedError
from contested.io import replace_dir, sha256_file

log = logging.getLogger(__name__)

# From the ChaosNLI README (github.com/easonnie/ChaosNLI).
CHAOSNLI_URL = "https://www.dropbox.com/s/h4j7dqszmpt2679/chaosNLI_v1.0.zip?dl=1"
CHAOSNLI_FOLDER = "chaosnli_v1.0"
CHAOSNLI_SHA256: dict[str, str] = {
    "chaosNLI_snli.jsonl": "99f9015ddda7d85f66a087452bc30d53974314fe27e7d589e2f41ad44bd509c1",
    "chaosNLI_mnli_m.jsonl": "8eb49b589488e7b1a9ec95fb8a864bd50f0509b4f808eed0aed3f8167617664d",
    "chaosNLI_alphanli.jsonl": "f55817ecc11a02ba3030cd7d2c567d23843456809020723abad53f4fde024c9e",
}
OPTIONAL_MEMBERS = ("README.txt",)
FETCHABLE = ("chaosnli",)


def chaosnli_present(folder: Path) -> bool:
    """True when ``folder`` holds all three ChaosNLI files with the v1.0 checksums."""
    return all((folder / name).is_file() and sha256_file(folder / name) == digest
               for name, digest in CHAOSNLI_SHA256.items())


def fetch_chaosnli(*, data_dir: str | os.PathLike | None = None, url: str = CHAOSNLI_URL,
                   timeout: float = 15.0, force: bool = False) -> Path:
    """Download, verify and unpack ChaosNLI v1.0 into ``<data dir>/chaosnli_v1.0``.

    Parameters
    ----------
    data_dir
        Target data folder (see :func:`contested.data.resolve_data_dir`); created if missing.
    url
        Where the zip lives: the official Dropbox link by default; any ``http(s)://`` or
        ``file://`` URL of a zip holding the same files works (mirrors, a manual download).
    timeout
        Seconds to wait for the server on connect and on each read.
    force
        Fetch again even when verified files are already present.

    Returns
    -------
    pathlib.Path
        The ``chaosnli_v1.0`` folder.
    """
    root = resolve_data_dir(data_dir)
    target = root / CHAOSNLI_FOLDER
    if not force and chaosnli_present(target):
        log.info("ChaosNLI v1.0 already present and verified in %s", target)
        return target
    # Download and verify in the system temp folder first: a failed fetch leaves the data folder untouched.
    with tempfile.TemporaryDirectory(prefix="contested-fetch-") as tmp:
        archive = Path(tmp) / "chaosNLI_v1.0.zip"
        _download(url, archive, timeout=timeout)
        verified = Path(tmp) / CHAOSNLI_FOLDER
        _unpack_verified(archive, verified, url=url)
        try:
            root.mkdir(parents=True, exist_ok=True)
            # Copy next to the target so the final move is a same-filesystem (atomic) rename.
            with tempfile.TemporaryDirectory(prefix=".chaosnli-stage-", dir=root) as stage:
                staged = Path(stage) / CHAOSNLI_FOLDER
                shutil.copytree(verified, staged)
                replace_dir(staged, target)
        except OSError as exc:
            raise ContestedError(f"{root}: cannot write the data folder ({exc.strerror or exc}); "
                                 "pass a writable --data-dir") from exc
    log.info("ChaosNLI v1.0 verified and unpacked into %s", target)
    return target


def _download(url: str, dest: Path, *, timeout: float) -> None:
    hint = ("check your connection, or download the zip yourself and run "
            "`contested data fetch chaosnli --url file:///path/to/chaosNLI_v1.0.zip`")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ContestedError(f"could not download ChaosNLI from {url} ({reason}); {hint}") from exc
    except OSError as exc:
        raise ContestedError(f"could not download ChaosNLI from {url} ({exc.strerror or exc}); {hint}") from exc


def _unpack_verified(archive: Path, staged: Path, *, url: str) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        head = archive.read_bytes()[:64].lstrip().lower()
        what = "an HTML page (the link may be dead)" if head.startswith((b"<", b"<!doctype")) else "not a zip file"
        raise ContestedError(f"{url}: the download is {what}; fetch the ChaosNLI v1.0 zip from another mirror "
                             "and pass it with --url file:///path/to/chaosNLI_v1.0.zip") from exc
    staged.mkdir()
    with zf:
        # Match members by base name only: this ignores __MACOSX/ entries and any folder layout,
        # and never writes outside ``staged`` (no path traversal from member names).
        members = {Path(i.filename).name: i for i in zf.infolist()
                   if not i.is_dir() and not i.filename.startswith("__MACOSX")}
        for name, digest in CHAOSNLI_SHA256.items():
            if name not in members:
                raise ContestedError(f"{url}: the zip has no {name}; it is not the ChaosNLI v1.0 release")
            out = staged / name
            with zf.open(members[name]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            got = sha256_file(out)
            if got != digest:
                raise ContestedError(f"{url}: checksum mismatch for {name} (sha256 {got[:12]}…, expected "
                                     f"{digest[:12]}…); the download is corrupt or not ChaosNLI v1.0, nothing "
                                     "was installed")
        for name in OPTIONAL_MEMBERS:
            if name in members:
                with zf.open(members[name]) as src, open(staged / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)


