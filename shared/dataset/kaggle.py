"""Kaggle's data.csv, fetched with kagglehub, checked, and loaded as a new version (``make kaggle``).

``python -m shared.dataset kaggle``. The credentials come from the environment (shared.config's
``kaggle_credentials``: KAGGLE_USERNAME and KAGGLE_KEY, or KAGGLE_API_TOKEN); without them it
stops before any network call. kagglehub (imported only here) downloads into a temporary folder;
the file passes the same checks as any CSV (shared.dataset.csv_file) before Redis is touched, so
every failure leaves the loaded data set as it was. Each failure is a :class:`KaggleError` whose
message says what went wrong and what to do; no message carries a credential.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import re
import shutil
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import BUNDLED_DATASET, KAGGLE_DATASET, KAGGLE_FILE, KaggleCredentials

if TYPE_CHECKING:
    import redis

#: kagglehub sets no timeout on its requests: past this the download counts as failed.
DOWNLOAD_DEADLINE_SECONDS = 300.0
#: The largest CSV taken out of a downloaded zip (Kaggle's is 125 KB; 1,000,000 rows about 250 MB).
MAX_CSV_BYTES = 512 * 1024 * 1024
TOKEN_PAGE = "https://www.kaggle.com/settings"
#: The name the checked file is loaded under: the data set's ``source`` in /dataset.
LOADED_NAME = f"kaggle-{KAGGLE_DATASET.replace('/', '-')}.csv"


class KaggleError(Exception):
    """Fetching the data set from Kaggle failed; the message says why and what to do."""


def page_url(handle: str = KAGGLE_DATASET) -> str:
    return f"https://www.kaggle.com/datasets/{handle}"


def no_credentials_message() -> str:
    return (
        "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY (an API token from "
        f"{TOKEN_PAGE}, 'Create New Token'), or KAGGLE_API_TOKEN; nothing was downloaded"
    )


def scrub(text: str, credentials: KaggleCredentials | None) -> str:
    """``text`` with every credential, and the Basic auth header made from them, replaced by ***."""
    if credentials is None:
        return text
    secrets = list(credentials.secrets())
    if credentials.username and credentials.key:
        secrets.append(base64.b64encode(f"{credentials.username}:{credentials.key}".encode()).decode())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _endpoint() -> str:
    """The API kagglehub talks to (KAGGLE_API_ENVIRONMENT=TEST: http://localhost:7777)."""
    try:
        from kagglesdk.kaggle_env import get_endpoint, get_env

        return get_endpoint(get_env())
    except Exception:  # an unknown KAGGLE_API_ENVIRONMENT: kagglehub says so itself
        return "Kaggle's API"


def _network_reason(error: Exception) -> str:
    """The innermost reason of a connection error ('Connection refused'), without urllib3's wrapping."""
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    return found[-1].strip() if found else type(error).__name__


def _http_message(status: int, retry_after: str | None, handle: str, file_name: str, kind: str) -> str:
    if status == 401:
        return (
            f"Kaggle refused the credentials (401 Unauthorized): check {kind}; "
            f"a new API token is made at {TOKEN_PAGE}"
        )
    if status == 403:
        return (
            f"Kaggle refused the download (403 Forbidden): sign in as the credentials' user and accept "
            f"the data set's terms at {page_url(handle)}, or use credentials allowed to download it"
        )
    if status == 404:
        return (
            f"Kaggle has no data set {handle} with a file {file_name} (404 Not Found), "
            f"or these credentials may not see it: check {page_url(handle)}"
        )
    if status == 429:
        wait = f"in {retry_after} s" if retry_after and retry_after.isdigit() else "later"
        return f"Kaggle is limiting requests from these credentials (429 Too Many Requests): try again {wait}"
    if status >= 500:
        return f"Kaggle failed to answer (HTTP {status}): try again later"
    return f"Kaggle answered HTTP {status} to the download of {handle}"


def explain(error: BaseException, credentials: KaggleCredentials, handle: str, file_name: str) -> str:
    """What a failure raised by kagglehub (or while unpacking its download) means, for a person."""
    import requests
    from kagglehub.exceptions import BackendError, DataCorruptionError

    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        if status < 400:  # kagglesdk raises on a JSON body whose "code" is an error, whatever the status
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                status = int(error.response.json().get("code", status))
        retry_after = error.response.headers.get("Retry-After")
        return _http_message(status, retry_after, handle, file_name, credentials.kind)
    if isinstance(error, DataCorruptionError):
        return "the download from Kaggle is corrupt (its MD5 checksum does not match Kaggle's): try again"
    if isinstance(
        error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
    ):
        return "the download from Kaggle was cut short or garbled (a corrupt download): try again"
    if isinstance(error, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"the download from Kaggle is corrupt (not a readable zip: {error}): try again"
    if isinstance(error, requests.exceptions.Timeout):
        return f"Kaggle ({_endpoint()}) did not answer in time: try again later"
    if isinstance(error, requests.exceptions.ConnectionError):
        return (
            f"cannot reach Kaggle at {_endpoint()} ({_network_reason(error)}): "
            "check the network connection (and HTTPS_PROXY, if one is needed)"
        )
    if isinstance(error, BackendError):
        return f"Kaggle reported an error: {error}"
    return f"the download from Kaggle failed: {type(error).__name__}: {error}"


@contextlib.contextmanager
def _muted():
    """Silence kagglehub: its progress bar, its log lines and (KAGGLE_API_ENVIRONMENT=TEST) its
    dumps of every request, which hold the Authorization header."""
    import logging

    library = logging.getLogger("kagglehub")
    level = library.level
    library.setLevel(logging.CRITICAL + 1)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        library.setLevel(level)


def _set_credentials(credentials: KaggleCredentials) -> None:
    """Hand kagglehub exactly the environment's credentials (not a ~/.kaggle/kaggle.json)."""
    from kagglehub.config import set_kaggle_api_token, set_kaggle_credentials

    if credentials.api_token:
        set_kaggle_api_token(credentials.api_token)
    else:
        set_kaggle_credentials(credentials.username, credentials.key)


def _unpacked(path: Path, file_name: str, folder: Path) -> Path:
    """The CSV itself: ``path``, or the member ``file_name`` when Kaggle sent a zip of it."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as file:
            head = file.read(1 << 16)
        if head.startswith(b"PK\x03\x04"):
            raise zipfile.BadZipFile("it starts as a zip but has no central directory")
        if b"\x00" in head:
            raise KaggleError("the download from Kaggle is corrupt (neither a zip nor a CSV): try again")
        return path
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        named = [m for m in members if Path(m.filename).name == file_name]
        if not named and len(members) != 1:
            listed = ", ".join(m.filename for m in members[:10]) or "nothing"
            raise KaggleError(f"the download from Kaggle has no {file_name} (it holds {listed})")
        member = (named or members)[0]
        if member.file_size > MAX_CSV_BYTES:
            raise KaggleError(
                f"{member.filename} in the download is {member.file_size} bytes, over {MAX_CSV_BYTES}"
            )
        target = folder / "unzipped" / file_name
        target.parent.mkdir()
        with archive.open(member) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    return target


def download(
    credentials: KaggleCredentials,
    folder: Path,
    handle: str = KAGGLE_DATASET,
    file_name: str = KAGGLE_FILE,
    deadline_seconds: float = DOWNLOAD_DEADLINE_SECONDS,
) -> Path:
    """Download ``file_name`` of ``handle`` into ``folder`` with kagglehub; the CSV's path.

    Always downloads (no cache): ``folder`` should be new and empty.
    """
    import kagglehub

    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            _set_credentials(credentials)
            got = kagglehub.dataset_download(
                handle, path=file_name, output_dir=str(folder), force_download=True
            )
            outcome["path"] = _unpacked(Path(got), file_name, folder)
        except BaseException as error:  # handed to the caller, explained there
            outcome["error"] = error

    worker = threading.Thread(target=fetch, name="kaggle-download", daemon=True)
    with _muted():
        worker.start()
        worker.join(deadline_seconds)
    if worker.is_alive():
        raise KaggleError(
            f"the download from Kaggle did not finish within {deadline_seconds:.0f} s: try again later"
        )
    error = outcome.get("error")
    if isinstance(error, KaggleError):
        raise KaggleError(scrub(str(error), credentials)) from None
    if error is not None:
        raise KaggleError(scrub(explain(error, credentials, handle, file_name), credentials)) from None
    return outcome["path"]


def fetch_and_load(
    client: redis.Redis,
    credentials: KaggleCredentials | None,
    report: Callable[[str], None] = print,
    handle: str = KAGGLE_DATASET,
    file_name: str = KAGGLE_FILE,
) -> dict[str, Any]:
    """Download, check and load Kaggle's ``file_name``; the loaded data set's metadata.

    Raises KaggleError for any failure before the load (nothing in Redis changed then).
    """
    from shared.dataset.columns import load_file
    from shared.dataset.csv_file import DatasetError, file_version, read_dataset_csv

    if credentials is None:
        raise KaggleError(no_credentials_message())
    report(f"kaggle: downloading {file_name} of {handle} with {credentials.kind}")
    with tempfile.TemporaryDirectory(prefix="tumorscope-kaggle-") as temporary:
        folder = Path(temporary)
        downloaded = download(credentials, folder / "download", handle, file_name)
        path = folder / LOADED_NAME
        shutil.move(downloaded, path)
        try:
            dataset = read_dataset_csv(path)
        except DatasetError as error:
            detail = str(error).replace(f"{path}: ", "")
            raise KaggleError(
                f"Kaggle's {file_name} is not a usable data set, nothing was loaded: {detail}"
            ) from None
        bundled = file_version(BUNDLED_DATASET)
        same = (
            "equals the bundled copy"
            if dataset.version == bundled
            else f"differs from the bundled copy ({bundled})"
        )
        report(f"kaggle: {file_name}: {path.stat().st_size} bytes, {dataset.rows} rows, valid")
        report(f"kaggle: sha256 {dataset.version}: {same}")
        return load_file(client, path)


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.dataset kaggle``: exit 0 once loaded; 1 for a Kaggle or CSV failure, 2 for Redis."""
    import redis

    from shared.config import ConfigError, kaggle_credentials, load_config
    from shared.store.redis_client import connect

    parser = argparse.ArgumentParser(
        prog="python -m shared.dataset kaggle", description=__doc__.splitlines()[0]
    )
    parser.parse_args(argv)
    try:
        credentials = kaggle_credentials()
        if credentials is None:
            raise KaggleError(no_credentials_message())
        config = load_config()
    except (ConfigError, KaggleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    try:
        client = connect(config.redis_url, timeout_seconds=30)
        client.ping()  # before the download: a Redis that is down fails at once
        meta = fetch_and_load(client, credentials)
    except KaggleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was loaded", file=sys.stderr)
        return 130
    except redis.exceptions.ConnectionError as error:
        print(f"error: cannot reach Redis (REDIS_URL): {error}; nothing was loaded", file=sys.stderr)
        return 2
    except redis.exceptions.RedisError as error:
        print(f"error: Redis refused the data set: {error}; the loaded one stays", file=sys.stderr)
        return 2
    print(
        f"loaded {meta['rows']} rows ({meta['classes']['benign']} benign, {meta['classes']['malignant']} "
        f"malignant) from Kaggle's {KAGGLE_DATASET} in {time.perf_counter() - started:.2f} s; "
        f"version {meta['version']}"
    )
    return 0
