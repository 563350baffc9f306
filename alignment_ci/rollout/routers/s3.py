"""The ``s3`` router: the routing table as one object in a bucket, written conditionally.

``apply`` reads the object and its ETag; when the table already matches it writes
nothing. Otherwise it writes with ``If-Match: <etag>`` (or ``If-None-Match: *`` when
there is no object yet), S3's conditional writes: a concurrent writer makes the
request fail with 412 instead of being overwritten silently, and the router re-reads
and tries again (a few times) before giving up with an error.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from ...errors import StoreError
from ...store.s3 import make_client
from .base import RoutingTable, check_table, same_table


class S3Router:
    """Routing table at ``s3://bucket/key``."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        max_attempts: int = 4,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.max_attempts = max_attempts
        if client is None:
            client = make_client(endpoint_url, region, max_attempts)
        self.client = client

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _read(self) -> tuple[RoutingTable | None, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or exc.response.get("Error", {}).get("Code") == "NoSuchKey":
                return None, None
            raise StoreError(f"{self.describe()}: cannot read the routing table ({exc}); check bucket and credentials") from None
        except BotoCoreError as exc:
            raise StoreError(f"{self.describe()}: cannot reach S3 ({exc}); check the endpoint and network") from None
        with response["Body"] as body:
            data = body.read()
        try:
            table = json.loads(data)
        except json.JSONDecodeError:
            table = None
        return (table if isinstance(table, dict) else None), response["ETag"]

    def current(self) -> RoutingTable | None:
        return self._read()[0]

    def apply(self, table: RoutingTable) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        check_table(table)
        body = (json.dumps(table, sort_keys=True, indent=2) + "\n").encode("utf-8")
        for attempt in range(self.max_attempts):
            existing, etag = self._read()
            if same_table(existing, table):
                return False
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json", **condition
                )
                return True
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = exc.response.get("Error", {}).get("Code")
                if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                    continue
                raise StoreError(f"{self.describe()}: cannot write the routing table ({exc})") from None
            except BotoCoreError as exc:
                raise StoreError(f"{self.describe()}: cannot reach S3 ({exc}); check the endpoint and network") from None
        raise StoreError(
            f"{self.describe()}: the routing table kept changing under us ({self.max_attempts} conditional writes "
            "failed); is another rollout writing the same object?"
        )
