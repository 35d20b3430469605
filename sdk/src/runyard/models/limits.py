"""Size and shape limits every part of Runyard agrees on.

The server enforces them (413/422 with the limit in the message); the SDK checks
them before sending so a user learns early.
"""

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_DIFF_BYTES = 8 * 1024 * 1024
MAX_LOG_BATCH_BYTES = 1024 * 1024
MAX_LOG_LINES_PER_BATCH = 10_000
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024 * 1024
"""Model checkpoints run to tens of GiB. Uploads stream in bounded memory (to disk, or to
S3 in 8 MiB parts, 10,000 at most: 78 GiB), so the limit is the store's, not the server's."""
MAX_PARAMS_BYTES = 1024 * 1024
MAX_REQUIREMENTS = 2_000
MAX_ARGS = 1_000
MAX_TAGS = 64
MAX_WAIT_S = 30.0
MAX_ENDED_PER_CLAIM = 64
"""Ended tasks' reports one claim may carry."""
MAX_PAGE = 1_000
MAX_BATCH_TASKS = 1_000
"""Tasks one ``POST /tasks:batch`` creates (all or none)."""
MIN_PRIORITY = -1_000
MAX_PRIORITY = 1_000
MAX_METRIC_POINTS_PER_BATCH = 10_000
MAX_METRIC_POINTS_PER_TASK = 200_000
MAX_TASK_NAME_CHARS = 256
MAX_IDEMPOTENCY_KEY_CHARS = 255
MAX_REASON_CHARS = 20_000
MAX_STATE_DETAIL_CHARS = 200
"""What an agent says of a held task beside its status (``Task.state_detail``)."""
"""A failure reason: the agent and the SDK trim the script's last lines to fit."""
