"""The mirror's object store: a bucket and prefix of S3 or an S3-compatible store, through ``obstore``.

Under the prefix, as Delta Lake and Iceberg lay out a table: ``data/`` holds every file a mirrored
state names, each under its data directory path with a tag before its suffix
(``data/warehouse/flag_trends/month=2024-01/part-0.s000012-1f2e3d4c.parquet``), written once and
never changed; ``manifests/`` one JSON record per state, naming its files; and ``current.json``
the pointer, naming the current state's manifest, written last with a conditional put (create
where none exists, else only over the version it replaces). A reader that follows the pointer sees
one whole state.

Credentials come from the standard AWS chain (the environment, a profile or SSO through boto3, web
identity, a container's or an instance's role), the region and endpoint from ``AWS_REGION`` and
``AWS_ENDPOINT_URL`` (an S3-compatible store: MinIO, Ceph, R2, GCS interoperability). They are never
logged or written: errors name the ``s3://`` URL and the store's reason only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

import obstore
from obstore.exceptions import (AlreadyExistsError, BaseError, NotFoundError, NotSupportedError,
                                PermissionDeniedError, PreconditionError, UnauthenticatedError)

POINTER = "current.json"
CHUNK = 5 * 1024 * 1024
"""Bytes a streamed upload or download holds at a time per file (S3's smallest multipart part)."""


DENIED = ("401", "403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken")
"""How a store's refusal of the credentials begins (an HTTP status, or S3's error code)."""


class MirrorError(RuntimeError):
    """The store cannot be reached, refuses the credentials, or holds what no mirror wrote: one line."""


class MirrorRefused(MirrorError):
    """The mirror holds a state this data directory did not start from: it is never replaced."""


@dataclass(frozen=True)
class Pointer:
    """What ``current.json`` says, with the store's version of it (for the conditional put) and its time."""

    seq: int
    manifest: str
    commit: int
    e_tag: str | None
    version: str | None
    written_at: dt.datetime


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without slashes at its ends); ``MirrorError`` otherwise."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise MirrorError(f"mirror {url!r} is not an s3://bucket/prefix URL")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")


def data_key(path: str, tag: str) -> str:
    """The object key of a data directory file uploaded by the push tagged ``tag``: unique to it."""
    posix = PurePosixPath(path)
    suffixes = "".join(posix.suffixes[-1:])
    return f"data/{posix.parent / (posix.name[:len(posix.name) - len(suffixes)] + '.' + tag + suffixes)}"


def new_tag(seq: int) -> str:
    """A push's tag: the state's number and a random part, so that a killed push's objects are never reused."""
    return f"s{seq:06d}-{uuid.uuid4().hex[:8]}"


class Store:
    """The bucket and prefix of a mirror URL."""

    def __init__(self, url: str):
        from obstore.store import S3Store

        bucket, prefix = parse_url(url)
        self.url = url
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        try:
            self._store = S3Store(
                bucket, prefix=prefix or None, credential_provider=_credentials(),
                client_options={"allow_http": endpoint.startswith("http://"), "connect_timeout": timedelta(seconds=5),
                                "timeout": timedelta(minutes=5)},
                retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=20),
                              "backoff": {"init_backoff": timedelta(milliseconds=200),
                                          "max_backoff": timedelta(seconds=5), "base": 2}})
        except Exception as error:  # noqa: BLE001 - a profile boto3 cannot find, a setting obstore refuses
            raise MirrorError(f"cannot open mirror {url}: {_reason(error)}") from None

    def pointer(self) -> Pointer | None:
        """The current state's pointer, None where the prefix holds none."""
        try:
            got = self._call("read the pointer of", obstore.get, POINTER)
        except FileNotFoundError:
            return None
        try:
            record = json.loads(bytes(got.bytes()))
            return Pointer(int(record["seq"]), str(record["manifest"]), int(record["commit"]), got.meta["e_tag"],
                           got.meta.get("version"), got.meta["last_modified"])
        except (ValueError, KeyError, TypeError):
            raise MirrorError(f"mirror {self.url}: {POINTER} is not a pointer this tool wrote") from None

    def manifest(self, key: str) -> dict:
        """A state's manifest: its files (path: key, size, sha256), its commit and days."""
        try:
            return json.loads(bytes(self._call("read a manifest of", obstore.get, key).bytes()))
        except FileNotFoundError:
            raise MirrorError(f"mirror {self.url}: the manifest {key} the pointer names is missing") from None

    def put_manifest(self, key: str, manifest: dict) -> None:
        self._call("write a manifest to", obstore.put, key, json.dumps(manifest, sort_keys=True).encode(), mode="create")

    def swap_pointer(self, pointer: dict, replaced: Pointer | None) -> Pointer:
        """Write the pointer only over ``replaced`` (only where none is, for None); ``MirrorRefused``
        where another writer moved it meanwhile. A store without conditional writes is read again
        just before an unconditional write (a race in between goes unseen)."""
        body = json.dumps(pointer, sort_keys=True).encode()
        mode = "create" if replaced is None else {k: v for k, v in (("e_tag", replaced.e_tag), ("version", replaced.version))
                                                  if v is not None}
        try:
            self._call("write the pointer of", obstore.put, POINTER, body, mode=mode)
        except (AlreadyExistsError, PreconditionError):
            raise MirrorRefused(f"mirror {self.url}: another data directory wrote a state while this one was "
                                "mirroring; nothing of it was replaced") from None
        except NotSupportedError:
            now = self.pointer()
            if (now and now.manifest) != (replaced and replaced.manifest):
                raise MirrorRefused(f"mirror {self.url}: another data directory wrote a state meanwhile") from None
            self._call("write the pointer of", obstore.put, POINTER, body)
        return self.pointer()

    def upload(self, path: Path, key: str) -> None:
        """One file, streamed a part at a time (a large file as a multipart upload)."""
        self._call("upload to", obstore.put, key, path, chunk_size=CHUNK, max_concurrency=2)

    def download(self, key: str, target: Path, size: int, sha256: str) -> None:
        """One object into ``target``, streamed, checked against its manifest's size and SHA-256."""
        digest, written = hashlib.sha256(), 0
        got = self._call("download from", obstore.get, key)
        with open(target, "wb") as file:
            for chunk in got.stream(min_chunk_size=CHUNK):
                digest.update(chunk)
                written += file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        if written != size or digest.hexdigest() != sha256:
            raise MirrorError(f"mirror {self.url}: {key} is not the file its manifest names "
                              f"({written} bytes, {size} expected)")

    def listed(self, under: str) -> Iterable[dict]:
        """Every object under a folder of the prefix: its path, size and time."""
        for batch in self._call("list", obstore.list, under):
            yield from batch

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self._call("delete from", obstore.delete, keys[start:start + 1000])

    def _call(self, doing: str, operation, *args, **kwargs):
        """``operation`` on the store; its failure as ``MirrorError`` in one line (``FileNotFoundError``
        as it is, for the caller to read as absence)."""
        try:
            return operation(self._store, *args, **kwargs)
        except (NotFoundError, FileNotFoundError) as error:
            if "NoSuchBucket" in str(error) or operation is not obstore.get:
                raise MirrorError(f"cannot {doing} mirror {self.url}: {_reason(error)}") from None
            raise FileNotFoundError(args[0] if args else "") from None
        except (AlreadyExistsError, PreconditionError, NotSupportedError):
            raise
        except (BaseError, OSError, RuntimeError) as error:
            reason = _reason(error)
            if isinstance(error, (PermissionDeniedError, UnauthenticatedError)) or reason.startswith(DENIED):
                raise MirrorError(f"mirror {self.url} denied the request to {doing} it ({reason}): check the "
                                  "credentials of the AWS chain and the bucket's policy") from None
            raise MirrorError(f"cannot {doing} mirror {self.url}: {reason}") from None


def _credentials():
    """Where the AWS chain's credentials are a profile's (AWS_PROFILE, or the files under ~/.aws, SSO
    included), boto3's provider for them; else None: object_store's own chain signs (the
    environment's keys, web identity, a container's or an instance's role), without importing boto3."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or not (
            os.environ.get("AWS_PROFILE") or os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
            or os.environ.get("AWS_CONFIG_FILE") or (Path.home() / ".aws").is_dir()):
        return None
    import boto3
    from obstore.auth.boto3 import Boto3CredentialProvider

    session = boto3.Session()
    return Boto3CredentialProvider(session) if session.get_credentials() is not None else None


def _reason(error: Exception) -> str:
    """The store's reason in a few words: S3's error code and message, the HTTP status, or the
    address that did not answer (obstore's text holds the request's details and a debug dump)."""
    text, _, debug = str(error).partition("\n\nDebug source:")
    code, message = re.search(r"<Code>([^<]+)</Code>", text), re.search(r"<Message>([^<]+)</Message>", text)
    if code:
        return f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
    if status := re.search(r"status code: (\d{3}[^:<]*)", text):
        return status.group(1).strip()
    if "error sending request" in text:
        where, why = re.search(r"https?://[^/\s]+", text), re.search(r'message: "([^"]+)"', debug)
        return f"no answer from {where.group(0) if where else 'the store'}" + (f" ({why.group(1)})" if why else "")
    return " ".join(text.split())[:240]
