"""Agents declared as data: who they are, what they may use, how they work.

The built-ins below ship with the product; admins add their own through the API.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AgentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
DEFAULT_AGENT = "assistant"
DEFAULT_RUN_AGENT = "planner"

_MEMORY_TOOLS = ("remember", "recall")
_DEV_TOOLS = (
    "git_status",
    "git_diff",
    "git_log",
    "git_commit",
    "run_tests",
    "run_lint",
    "run_format",
    "run_typecheck",
    "run_build",
)
_KNOWLEDGE_TOOLS = ("search_knowledge",)
_GROUNDING = (
    " Use tools when they help and never invent their results. Files live in your workspace; "
    "refer to them with relative paths. When you have what you need, answer plainly."
)


class AgentSpec(BaseModel):
    """One agent."""

    model_config = ConfigDict(extra="forbid")

    name: AgentName
    description: Annotated[str, StringConstraints(max_length=500)]
    system_prompt: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    tools: list[Annotated[str, StringConstraints(max_length=64)]] | None = None  # None: all
    model: Annotated[str, StringConstraints(max_length=200)] | None = None
    max_iterations: int | None = Field(None, ge=1, le=100)  # None: MAX_ITERATIONS
    mode: Literal["chat", "workflow"] = "chat"
    # Judges a workflow's VERIFY (None: VERIFIER_MODEL, else the run's model).
    verifier_model: Annotated[str, StringConstraints(max_length=200)] | None = None
    # Knowledge collections its turns search (only its owner's: others are never reached).
    knowledge: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    builtin: bool = False


class AgentUpdate(BaseModel):
    """The fields an admin may change on a custom agent."""

    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    system_prompt: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None
    tools: list[Annotated[str, StringConstraints(max_length=64)]] | None = None
    model: Annotated[str, StringConstraints(max_length=200)] | None = None
    max_iterations: int | None = Field(None, ge=1, le=100)
    mode: Literal["chat", "workflow"] | None = None
    verifier_model: Annotated[str, StringConstraints(max_length=200)] | None = None
    knowledge: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        None, max_length=20
    )


BUILTIN_AGENTS: tuple[AgentSpec, ...] = (
    AgentSpec(
        name="assistant",
        description="A general assistant that can use every enabled tool.",
        system_prompt="You are a helpful, precise assistant." + _GROUNDING,
        builtin=True,
    ),
    AgentSpec(
        name="coder",
        description="Writes, runs and fixes code in the workspace.",
        system_prompt="You are a senior software engineer. Write small, correct programs, run "
        "them to check they work, and fix what fails." + _GROUNDING,
        tools=[
            "read_file",
            "write_file",
            "edit_file",
            "apply_patch",
            "list_directory",
            "search_files",
            "grep",
            "file_info",
            "move_path",
            "delete_path",
            "make_directory",
            "execute_command",
            "run_python",
            *_DEV_TOOLS,
            "calculate",
            *_MEMORY_TOOLS,
        ],
        max_iterations=20,
        builtin=True,
    ),
    AgentSpec(
        name="researcher",
        description="Gathers facts from the web and files, and cites where they came from.",
        system_prompt="You are a careful researcher. Gather facts, cross-check them, and say "
        "where each came from." + _GROUNDING,
        tools=[
            "web_search",
            "web_read",
            *_KNOWLEDGE_TOOLS,
            "http_request",
            "read_file",
            "write_file",
            "search_files",
            "list_directory",
            "get_datetime",
            *_MEMORY_TOOLS,
        ],
        builtin=True,
    ),
    AgentSpec(
        name="sysadmin",
        description="Inspects the system and runs commands in the sandbox.",
        system_prompt="You are a cautious system administrator. Inspect before you change, "
        "and explain each command you run." + _GROUNDING,
        tools=[
            "execute_command",
            "get_system_info",
            "read_file",
            "list_directory",
            "file_info",
            "hash",
            "archive",
            "grep",
            "get_datetime",
        ],
        builtin=True,
    ),
    AgentSpec(
        name="analyst",
        description="Computes, compares and summarises data.",
        system_prompt="You are a data analyst. Compute exactly with tools rather than in your "
        "head, and show how you got each number." + _GROUNDING,
        tools=[
            "calculate",
            "query_data",
            "convert_units",
            "run_python",
            "read_file",
            "write_file",
            "execute_command",
            "list_directory",
            *_MEMORY_TOOLS,
        ],
        builtin=True,
    ),
    AgentSpec(
        name="writer",
        description="Drafts and edits text documents in the workspace.",
        system_prompt="You are a clear, concise writer. Draft, then edit for brevity." + _GROUNDING,
        tools=[
            "read_file",
            "write_file",
            "edit_file",
            "list_directory",
            "diff_text",
            *_MEMORY_TOOLS,
        ],
        builtin=True,
    ),
    AgentSpec(
        name="planner",
        description="Runs autonomous workflows: spec, plan, execute, verify, repair.",
        system_prompt="You are an autonomous agent that plans work, carries it out step by "
        "step and checks the result against the goal." + _GROUNDING,
        max_iterations=15,
        mode="workflow",
        builtin=True,
    ),
)
