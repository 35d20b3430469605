"""The server's own log: one JSON object per line on stderr.

Fields a log call passes as ``extra={"fields": {...}}`` become keys of the line, so
``{"msg": "request", "method": "GET", "status": 200, "request_id": ...}`` can be
filtered without parsing prose. JSON escaping keeps a hostile path on one line.
"""

import json
import logging
import sys

_LEVELS = {**logging.getLevelNamesMapping(), "TRACE": logging.DEBUG}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, msg, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str) -> None:
    """Send the ``runyard_server`` loggers to stderr as JSON lines at ``level``
    (uvicorn's names: critical, error, warning, info, debug, trace)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("runyard_server")
    logger.handlers[:] = [handler]
    logger.setLevel(_LEVELS.get(level.upper(), logging.INFO))
    logger.propagate = False
