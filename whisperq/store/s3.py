"""The S3 store: a bucket (optionally a prefix in it) through boto3, on AWS or an S3-compatible server.

Conditional writes are S3's own: ``If-None-Match: *`` creates only if absent, ``If-Match: <etag>``
replaces only that version; the server answers 412 (or 409 when two conditional writes overlap).
User metadata travels as ``x-amz-meta-*`` headers, which only carry ASCII: other characters and
``%`` are percent-encoded on the way in and decoded on the way out. S3 lower-cases metadata names.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from whisperq.aws import error_code, make_client
from whisperq.store.base import ObjectInfo, ObjectNotFound, PreconditionFailed, Store, StoreError, check_key

_CHUNK = 1024 * 1024
_META_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")
_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}


class S3Store(Store):
    read_concurrency = 16

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        multipart_threshold: int = 8 * _CHUNK,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.requests: Counter[str] = Counter()
        self._client = make_client("s3", requests=self.requests, endpoint_url=endpoint_url)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold
        )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Store:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an S3 URL: {url!r} (expected s3://bucket[/prefix])")
        return cls(parsed.netloc, parsed.path, **options)

    def create_bucket(self) -> None:
        """Create the bucket when missing: for tests and dev setups (real buckets come from infra)."""
        region = self._client.meta.region_name
        options = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            self._client.create_bucket(Bucket=self.bucket, **options)
        except ClientError as exc:
            if error_code(exc)[0] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    # --- plumbing ----------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, operation: str, key: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **kwargs)
        except (ClientError, S3UploadFailedError) as exc:
            raise self._error(exc, key) from exc

    def _error(self, exc: Exception, key: str) -> StoreError:
        code, status = error_code(exc)
        if code in _CONFLICT or status == 412:
            return PreconditionFailed(f"{key!r}: {code or status}")
        if code == "NoSuchBucket":
            return StoreError(f"bucket {self.bucket!r} does not exist")
        if code in _NOT_FOUND or status == 404:
            return ObjectNotFound(key)
        return StoreError(f"S3 error on {key!r}: {exc}")

    @staticmethod
    def _put_args(content_type: str | None, metadata: dict[str, str] | None) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if content_type:
            args["ContentType"] = content_type
        if metadata:
            args["Metadata"] = {name: quote(value, safe=_META_SAFE) for name, value in metadata.items()}
        return args

    @staticmethod
    def _info(key: str, response: dict[str, Any]) -> ObjectInfo:
        metadata = {name: unquote(value) for name, value in response.get("Metadata", {}).items()}
        return ObjectInfo(
            key, response["ContentLength"], response["ETag"], response["LastModified"].timestamp(), metadata
        )

    # --- writes ------------------------------------------------------------------------------
    def put_bytes(self, key, data, *, if_none_match=False, if_match=None, content_type=None, metadata=None):
        args = self._put_args(content_type, metadata)
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = if_match
            if if_match.strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest():
                return self._put_new_version(key, data, args)
        return self._call("put_object", key, Key=self._key(key), Body=data, **args)["ETag"]

    def _put_new_version(self, key: str, data: bytes, args: dict[str, Any]) -> str:
        """Swap in the very bytes that are there already, under a new ETag.

        The ETag of a plain PUT is the MD5 of the bytes, so a plain PUT would keep it and a second writer
        holding the same ETag would win as well. A one-part multipart upload stores the same bytes under
        another ETag (``<md5 of the part's md5>-1``), and its completion honours If-Match.
        """
        full_key = self._key(key)
        condition = {"IfMatch": args.pop("IfMatch")}
        upload_id = self._call("create_multipart_upload", key, Key=full_key, **args)["UploadId"]
        try:
            part = self._call("upload_part", key, Key=full_key, UploadId=upload_id, PartNumber=1, Body=data)
            parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
            return self._call(
                "complete_multipart_upload", key, Key=full_key, UploadId=upload_id, MultipartUpload=parts, **condition
            )["ETag"]
        except StoreError:
            with contextlib.suppress(StoreError):
                self._call("abort_multipart_upload", key, Key=full_key, UploadId=upload_id)
            raise

    def put_file(self, key, source, *, content_type=None, metadata=None):
        args = self._put_args(content_type, metadata)
        full_key = self._key(key)
        if isinstance(source, Path):
            if source.stat().st_size < self._transfer.multipart_threshold:
                with open(source, "rb") as handle:
                    return self._call("put_object", key, Key=full_key, Body=handle, **args)["ETag"]
            self._call("upload_file", key, Filename=str(source), Key=full_key, ExtraArgs=args, Config=self._transfer)
        else:
            self._call("upload_fileobj", key, Fileobj=source, Key=full_key, ExtraArgs=args, Config=self._transfer)
        # The transfer manager does not return the ETag. Callers stream only to keys of their own (audio of
        # a new job), so the object read back is the one just written.
        return self.head(key).etag

    def delete(self, key, *, if_match=None):
        condition = {} if if_match is None else {"IfMatch": if_match}
        with contextlib.suppress(ObjectNotFound):  # conditional, of a missing object: what was read is gone
            self._call("delete_object", key, Key=self._key(key), **condition)

    # --- reads -------------------------------------------------------------------------------
    def get_bytes(self, key):
        response = self._call("get_object", key, Key=self._key(key))
        try:
            return response["Body"].read(), response["ETag"]
        finally:
            response["Body"].close()

    def download(self, key, dest):
        response = self._call("get_object", key, Key=self._key(key))
        body = response["Body"]
        try:
            with open(dest, "wb") as handle:
                for chunk in body.iter_chunks(_CHUNK):
                    handle.write(chunk)
        except BaseException:
            Path(dest).unlink(missing_ok=True)
            raise
        finally:
            body.close()
        return self._info(key, response)

    def head(self, key):
        return self._info(key, self._call("head_object", key, Key=self._key(key)))

    def list_keys(self, prefix="", *, start_after=None):
        args: dict[str, Any] = {"Prefix": self.prefix + prefix}
        if start_after is not None:
            args["StartAfter"] = self.prefix + start_after
        strip = len(self.prefix)
        while True:
            page = self._call("list_objects_v2", prefix, **args)
            for item in page.get("Contents", []):
                yield item["Key"][strip:]
            if not page.get("IsTruncated"):
                return
            args.pop("StartAfter", None)  # the token already carries the position
            args["ContinuationToken"] = page["NextContinuationToken"]

    def presign_post(self, key: str, max_bytes: int, expires_s: int) -> dict | None:
        """Signed locally, no request: the policy caps the size at ``max_bytes``."""
        return self._client.generate_presigned_post(
            self.bucket,
            self._key(key),
            Conditions=[["content-length-range", 0, max_bytes]],
            ExpiresIn=expires_s,
        )

    def close(self) -> None:
        self._client.close()
