"""Conversations beyond their rows: message trees and branches, full-text search,
export and import, and feedback on answers."""

from orchestrator.conversations._export import (
    MAX_FILE_BYTES,
    ConversationFile,
    export_conversation,
    import_conversation,
    parse_file,
    to_markdown,
)
from orchestrator.conversations._feedback import (
    RatingTotals,
    rate,
    rated_exchanges,
    ratings_of,
    totals,
    unrate,
)
from orchestrator.conversations._search import Hit, fold, highlight, search
from orchestrator.conversations._tree import (
    MessageTree,
    conversation_run_ids,
    delete_branch,
    delete_conversation_tree,
    delete_runs,
    load_tree,
    resolve_parent,
    set_active,
)

__all__ = [
    "MAX_FILE_BYTES",
    "ConversationFile",
    "Hit",
    "MessageTree",
    "RatingTotals",
    "conversation_run_ids",
    "delete_branch",
    "delete_conversation_tree",
    "delete_runs",
    "export_conversation",
    "fold",
    "highlight",
    "import_conversation",
    "load_tree",
    "parse_file",
    "rate",
    "rated_exchanges",
    "ratings_of",
    "resolve_parent",
    "search",
    "set_active",
    "to_markdown",
    "totals",
    "unrate",
]
