"""Usage accounting and quotas: what each model call cost, per user, model, agent and run,
and the limits that stop a user at their daily tokens, daily runs or runs at once."""

from orchestrator.usage._meter import EVAL_AGENT, MeteredModels, UsageMeter
from orchestrator.usage._quotas import QuotaLimits, Quotas, QuotaUse, day_start, next_reset
from orchestrator.usage._report import (
    GroupBy,
    RunsByStatus,
    StatusCount,
    UsageReport,
    runs_by_status,
    usage_report,
)

__all__ = [
    "EVAL_AGENT",
    "GroupBy",
    "MeteredModels",
    "QuotaLimits",
    "QuotaUse",
    "Quotas",
    "RunsByStatus",
    "StatusCount",
    "UsageMeter",
    "UsageReport",
    "day_start",
    "next_reset",
    "runs_by_status",
    "usage_report",
]
