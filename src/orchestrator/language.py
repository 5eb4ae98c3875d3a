"""The languages of the web app, and what the agents are told about the user's language.

Agents answer in the language the user writes in; the language the user chose in the web
app (stored with the account) says which to use when a message does not show one.
"""

from __future__ import annotations

LANGUAGES = {"en": "English", "fr": "French"}

_FOLLOW = (
    "Answer in the language the user writes in: a message in French gets an answer in "
    "French, a message in English an answer in English."
)


def language_instruction(preferred: str | None) -> str:
    """The system prompt's sentence about the answer's language; `preferred` is the
    user's setting ("en", "fr", None)."""
    name = LANGUAGES.get(preferred or "")
    if name is None:
        return _FOLLOW
    return (
        f"{_FOLLOW} When a message does not show its language, answer in {name}, "
        "the language the user chose."
    )
