"""The evaluation suite: how well a model does as an agent, scored without a judge model.

    runner = EvalRunner(settings, gateway, retriever=..., repair=True)
    report = await runner.run("smollm2-135m", on_task=print)
    report.right_tool, report.task_success         # ratios from 0 to 1

`TASKS` is fixed and versioned (`SUITE_VERSION`); see `_suite` for the tasks and
`_runner` for how each rate is counted.
"""

from orchestrator.evals._runner import CallRecord, EvalReport, EvalRunner, TaskResult, score
from orchestrator.evals._store import EvalBook
from orchestrator.evals._suite import SUITE_VERSION, TASKS, EvalTask, Expect
from orchestrator.evals._tools import EVAL_TOOLS

__all__ = [
    "EVAL_TOOLS",
    "SUITE_VERSION",
    "TASKS",
    "CallRecord",
    "EvalBook",
    "EvalReport",
    "EvalRunner",
    "EvalTask",
    "Expect",
    "TaskResult",
    "score",
]
