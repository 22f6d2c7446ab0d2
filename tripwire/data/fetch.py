"""Download Hyperliquid's requester-pays archive with boto3: list, plan, fetch, verify.

boto3 is an optional dependency (``pip install 'tripwire[data]'``): it is imported when a client
is made, and its absence is a :class:`FetchError` saying what to install.

Every request carries ``RequestPayer='requester'`` (the buckets refuse anything else with 403).
Credentials are boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, ``~/.aws/credentials``, an instance role); anonymous access cannot work on a
requester-pays bucket, so no credentials is an error before any request is made.

Downloads are resumable and never leave a half file under the final name:

- a file already at its listed size is skipped (no request);
- bytes go to ``NAME.part``; a ``.part`` left by an interrupted run is continued with a
  ``Range`` request pinned to the listed ETag (``If-Match``: if the object changed since, the
  answer is 412 and the part is restarted from zero);
- the finished part must have the listed size and, for a single-part upload (an ETag without a
  ``-``), the ETag's MD5; only then is it renamed to ``NAME``. A resumed part that fails the
  check is restarted once from zero; a fresh one that fails is deleted and reported.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripwire.data.cost import CostEstimate
from tripwire.data.layout import Wanted
from tripwire.errors import UserError

CHUNK = 1 << 20
STREAM_ATTEMPTS = 3  # a connection cut mid-body is resumed from the .part this many times
INSTALL_HINT = "boto3 is needed for `tripwire data fetch`: pip install 'tripwire[data]' (or pip install boto3)"
CREDENTIALS_HINT = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or "
    "run `aws configure`). Hyperliquid's archive is requester-pays: AWS bills your account for the "
    "transfer, so anonymous access is refused"
)


class FetchError(UserError):
    """A download problem the user can act on; the message says what and how."""


@dataclass(frozen=True)
class ArchiveObject:
    bucket: str
    key: str
    size: int
    etag: str  # as S3 sends it, quotes included
    kind: str

    @property
    def md5(self) -> str | None:
        """The content MD5 when the ETag is one (single-part uploads); None for multipart ETags."""
        tag = self.etag.strip('"')
        return tag if len(tag) == 32 and "-" not in tag else None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class Plan:
    objects: list[ArchiveObject]
    missing: list[Wanted]
    list_requests: int

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def cost(self, out_dir: Path | None = None) -> CostEstimate:
        """The cost of fetching what is not already complete in ``out_dir`` (everything if None)."""
        todo = [o for o in self.objects if out_dir is None or not _complete(out_dir / o.key, o)]
        return CostEstimate(sum(o.size for o in todo), len(todo), self.list_requests)


@dataclass
class FetchResult:
    skipped: list[ArchiveObject] = field(default_factory=list)
    downloaded: list[ArchiveObject] = field(default_factory=list)
    resumed: list[ArchiveObject] = field(default_factory=list)


# -- client ---------------------------------------------------------------------------------------


def make_client(endpoint_url: str | None = None, region: str = "us-east-1") -> Any:
    """An S3 client on the user's credentials, or FetchError (boto3 missing, no credentials)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise FetchError(INSTALL_HINT) from None
    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise FetchError(CREDENTIALS_HINT)
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _client_error(exc: Exception, what: str) -> FetchError:
    """A botocore error as the user should read it."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return FetchError(CREDENTIALS_HINT)
    if isinstance(exc, EndpointConnectionError):
        return FetchError(f"{what}: cannot reach S3 ({exc})")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDenied", "AllAccessDisabled") or (status == 403 and code not in _BAD_KEY_CODES):
            return FetchError(
                f"{what}: access denied ({code or status}). The bucket is requester-pays: your IAM user "
                "or role needs s3:ListBucket and s3:GetObject on it, and the account must be able to be "
                "billed (a fresh account with no payment method is refused)"
            )
        if code in _BAD_KEY_CODES:
            return FetchError(f"{what}: AWS refused the credentials ({code}): check the access key and secret")
        if code == "NoSuchBucket":
            return FetchError(f"{what}: no such bucket (is --endpoint-url pointing at the right S3?)")
        return FetchError(f"{what}: S3 answered {code or status}: {err.get('Message', exc)}")
    return FetchError(f"{what}: {exc}")


_BAD_KEY_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken")


def _botocore_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


# -- planning -------------------------------------------------------------------------------------


def list_prefix(client: Any, bucket: str, prefix: str) -> tuple[dict[str, tuple[int, str]], int]:
    """``{key: (size, etag)}`` under ``prefix`` and the number of LIST requests it took."""
    found: dict[str, tuple[int, str]] = {}
    requests = 0
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "RequestPayer": "requester"}
        if token:
            kwargs["ContinuationToken"] = token
        try:
            page = client.list_objects_v2(**kwargs)
        except _botocore_errors() as exc:
            raise _client_error(exc, f"listing s3://{bucket}/{prefix}") from None
        requests += 1
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (int(obj["Size"]), str(obj.get("ETag", "")))
        if not page.get("IsTruncated"):
            return found, requests
        token = page["NextContinuationToken"]


def plan(client: Any, wanted: Sequence[Wanted]) -> Plan:
    """List each prefix the wanted objects live under once; split them into found and missing."""
    listings: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}
    requests = 0
    objects: list[ArchiveObject] = []
    missing: list[Wanted] = []
    for w in wanted:
        where = (w.bucket, w.list_prefix)
        if where not in listings:
            listings[where], n = list_prefix(client, *where)
            requests += n
        hit = listings[where].get(w.key)
        if hit is None:
            missing.append(w)
        else:
            objects.append(ArchiveObject(w.bucket, w.key, hit[0], hit[1], w.kind))
    return Plan(objects, missing, requests)


# -- downloading ----------------------------------------------------------------------------------


def _complete(dest: Path, obj: ArchiveObject) -> bool:
    return dest.is_file() and dest.stat().st_size == obj.size


def _md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(client: Any, obj: ArchiveObject, dest: Path, on_bytes: Callable[[int], None] = lambda n: None) -> str:
    """Fetch one object to ``dest``: ``"skipped"``, ``"downloaded"`` or ``"resumed"``; FetchError."""
    if _complete(dest, obj):
        return "skipped"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    resumed = part.is_file() and part.stat().st_size > 0
    for restart in (False, True):
        if restart or (part.is_file() and part.stat().st_size > obj.size):
            part.unlink(missing_ok=True)
        _fill_part(client, obj, part, on_bytes)
        problem = _check(part, obj)
        if problem is None:
            os.replace(part, dest)
            return "resumed" if resumed and not restart else "downloaded"
        if not (resumed and not restart):
            break  # a fresh download that fails its check will fail again: report it
    part.unlink(missing_ok=True)
    raise FetchError(f"{obj.uri}: {problem}; the partial file was deleted, run again to retry")


def _check(part: Path, obj: ArchiveObject) -> str | None:
    size = part.stat().st_size if part.is_file() else 0
    if size != obj.size:
        return f"got {size:,} bytes, the listing says {obj.size:,}"
    md5 = obj.md5
    if md5 is not None and _md5_of(part) != md5:
        return f"MD5 of the download does not match the ETag {md5}"
    return None


def _fill_part(client: Any, obj: ArchiveObject, part: Path, on_bytes: Callable[[int], None]) -> None:
    """Append the object's missing bytes to ``part``, resuming after a cut up to STREAM_ATTEMPTS times."""
    from botocore.exceptions import ClientError

    errors: tuple[type[Exception], ...] = (*_botocore_errors(), OSError)
    last: Exception | None = None
    for _ in range(STREAM_ATTEMPTS):
        have = part.stat().st_size if part.is_file() else 0
        if have >= obj.size:
            return
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key, "RequestPayer": "requester"}
        if obj.etag:
            kwargs["IfMatch"] = obj.etag
        if have:
            kwargs["Range"] = f"bytes={have}-"
        try:
            resp = client.get_object(**kwargs)
            with open(part, "ab") as fh:
                for chunk in resp["Body"].iter_chunks(CHUNK):
                    fh.write(chunk)
                    on_bytes(len(chunk))
            return
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412") and have:
                part.unlink()  # the object changed since the part was started: start over
                last = exc
                continue
            if code in ("NoSuchKey", "404"):
                raise FetchError(f"{obj.uri}: listed but gone when fetched (the archive is being updated?)") from None
            raise _client_error(exc, f"fetching {obj.uri}") from None
        except errors as exc:  # a cut mid-body: what arrived stays in the part
            last = exc
    raise _client_error(last or RuntimeError("no attempt made"), f"fetching {obj.uri}")


def fetch_all(
    client: Any, objects: Iterable[ArchiveObject], out_dir: Path, on_bytes: Callable[[int], None] = lambda n: None
) -> FetchResult:
    """Download every object under ``out_dir`` at its key, in order; stops at the first FetchError."""
    result = FetchResult()
    for obj in objects:
        status = download(client, obj, out_dir / obj.key, on_bytes)
        getattr(result, status).append(obj)
    return result
