"""Log lines as text or JSON (`LOG_FORMAT`), each with the request id it belongs to, and
with API keys, tokens, passwords and other credentials masked wherever they appear."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from orchestrator.api.log_masking import mask_credentials
from orchestrator.observability._requests import request_id

MASK = "***"
_SECRETS = [
    # `orch_` API keys, JWTs (access and refresh tokens), bearer credentials.
    (re.compile(r"orch_[A-Za-z0-9_\-]{8,}"), "orch_" + MASK),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"), MASK),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1" + MASK),
    # name=value and "name": "value" for names that hold secrets.
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|api[_-]?key|credential|authorization"
            r"|private[_-]?key)[A-Za-z_\-]*[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1" + MASK,
    ),
]
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask_secrets(text: str) -> str:
    """`text` with every credential it holds replaced by `***`."""
    text = mask_credentials(text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class TextFormatter(logging.Formatter):
    """`LEVEL logger [request id]: message`, masked."""

    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.get()
        line = f"{record.levelname} {record.name}{f' [{rid}]' if rid else ''}: "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_secrets(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras; masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Masked before encoding: the patterns see the text, not JSON's escapes.
        masked = {
            k: mask_secrets(v) if isinstance(v, str) and k != "time" else v
            for k, v in entry.items()
        }
        return json.dumps(masked, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """One handler on the root logger (stderr) in `log_format`; uvicorn's loggers write
    through it too."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings become log lines in the same format
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
