"""Which artifact and history stores a process uses: the data dir, or ``--storage s3://…``.

Every process builds its own (the API processes and the jobs process), from the settings.
"""

from dataclasses import dataclass

from runyard_server.artifact_files import ArtifactFiles, ArtifactStore
from runyard_server.audit_archive import AuditArchive, LocalAuditArchive
from runyard_server.config import Settings
from runyard_server.history_files import HistoryStore, LocalHistory
from runyard_server.s3_location import S3Location


@dataclass(frozen=True)
class Stores:
    artifacts: ArtifactStore
    history: HistoryStore
    audit: AuditArchive


def open_stores(settings: Settings, check: bool = False) -> Stores:
    """The stores the settings name; with ``check``, first make sure the bucket answers
    (raises ``StoreUnavailable`` naming what is wrong)."""
    if settings.storage is None:
        return Stores(
            ArtifactFiles(settings.artifact_dir),
            LocalHistory(settings.history_dir),
            LocalAuditArchive(settings.data_dir / "audit"),
        )
    try:
        from runyard_server.s3_objects import Bucket, make_client
    except ImportError as error:
        raise RuntimeError(
            f"--storage {settings.storage} needs boto3: install runyard-server[s3]"
        ) from error
    from runyard_server.audit_archive import S3AuditArchive
    from runyard_server.s3_artifacts import S3Artifacts
    from runyard_server.s3_history import S3History

    bucket = Bucket(make_client(settings.storage_endpoint_url), S3Location.parse(settings.storage))
    if check:
        bucket.check()
    return Stores(S3Artifacts(bucket), S3History(bucket), S3AuditArchive(bucket))
