"""Runs: the event log, live fan-out, tool gating and execution of chat turns and workflows."""
