"""AI Orchestrator: a self-hosted platform for AI agents on local models."""
