"""Beyond one process: the Redis run queue, event fan-out and control channel, and workers.

Used when `REDIS_URL` is set: API processes enqueue runs (`QueueExecutor`) and follow
them through `RedisEventBus`; `orchestrator worker` processes (`scale.worker`) execute
them. Without Redis, runs execute in the API process (`runs.executor.InProcessExecutor`).
"""

from orchestrator.scale.control import ControlMessage, RunControl
from orchestrator.scale.queue import QueueExecutor, RedisServices
from orchestrator.scale.redis_bus import RedisEventBus

__all__ = ["ControlMessage", "QueueExecutor", "RedisEventBus", "RedisServices", "RunControl"]
