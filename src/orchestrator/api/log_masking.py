"""Keeps credentials passed in URLs (`?token=`, as WebSocket clients do) out of the logs."""

from __future__ import annotations

import logging
import re

# uvicorn writes the path with its query string: HTTP requests on `uvicorn.access`,
# accepted and refused WebSockets on `uvicorn.error`.
MASKED_LOGGERS = ("uvicorn.access", "uvicorn.error")
_CREDENTIAL_QUERY = re.compile(
    r"(?P<name>[?&](?:token|access_token|api_key|key)=)[^&\s\"']*", re.IGNORECASE
)


def mask_credentials(text: str) -> str:
    """`text` with the value of every credential query parameter replaced by `***`."""
    return _CREDENTIAL_QUERY.sub(r"\g<name>***", text)


class CredentialQueryMask(logging.Filter):
    """Rewrites a log record's message and arguments with `mask_credentials`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask, never drop."""
        if isinstance(record.msg, str):
            record.msg = mask_credentials(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_credentials(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def install_credential_mask() -> None:
    """Add the mask to uvicorn's loggers (once, however many apps are built)."""
    for name in MASKED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CredentialQueryMask) for f in logger.filters):
            logger.addFilter(CredentialQueryMask())
