"""``s3://BUCKET/PREFIX``: where artifacts and history live when not in the data dir.

Parsed without boto3, so the settings check it whether or not the ``[s3]`` extra is
installed; ``s3_objects`` is the one module that talks S3.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's bucket naming rules (3-63 lowercase letters, digits, dots and hyphens)."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """"" or a key prefix ending in "/": every key the server writes starts with it."""

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        parts = urlsplit(url)
        if parts.scheme != "s3" or parts.query or parts.fragment:
            raise ValueError(f"storage {url!r} is not s3://BUCKET or s3://BUCKET/PREFIX")
        if not _BUCKET.fullmatch(parts.netloc):
            raise ValueError(
                f"storage {url!r}: {parts.netloc!r} is not a bucket name "
                "(3-63 lowercase letters, digits, '.' and '-')"
            )
        prefix = parts.path.strip("/")
        if "//" in prefix:
            raise ValueError(f"storage {url!r}: the prefix has an empty folder name")
        return cls(bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "")

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` (validated ids and names) under the prefix."""
        return self.prefix + "/".join(parts)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
