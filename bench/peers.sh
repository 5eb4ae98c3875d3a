#!/usr/bin/env bash
# Build the separate environment that holds the peer frameworks for `python -m bench.engine`
# (LangGraph's prebuilt ReAct agent, smolagents' ToolCallingAgent). Kept apart from the
# project's venv so their dependencies never touch uv.lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet langgraph langchain-core smolagents
"$venv/bin/python" -c "import langgraph, langchain_core, smolagents; print('peers ready:', '$venv')"
