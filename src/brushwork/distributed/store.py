"""Job state in Redis, shared by the queue (server side) and the task (worker side).

Keys, all under `brushwork:` (one Redis can serve several deployments with different prefixes):

* `job:{id}`    hash: state, step, total, elapsed, eta, error, created, finished, worker, attempts,
                and the task's settings (to send it again when its worker died)
* `input:{id}`  hash: content, style0..styleN, init — the encoded images (bytes, never paths)
* `result:{id}` the finished PNG, with a TTL (result expiry)
* `events:{id}` stream: one entry per progress report (status JSON + optional JPEG preview)
* `beat:{id}`   the running worker's heartbeat, a key with a short TTL: when it is gone while
                the job says "running", the worker died (SIGKILL, OOM, power loss)
* `cancel:{id}` a flag the running task polls; set by `CeleryQueue.cancel`
* `queued`      sorted set of ids waiting for a worker (bounds the queue)
* `stats`       hash: finished job count and seconds, for the Retry-After estimate

State changes go through one Lua script so a late writer can never move a job out of a final
state (a worker finishing just after a cancel, a lost-worker sweep racing a slow heartbeat).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from ..jobs import JobState, JobStatus

PREFIX = "brushwork"
EVENTS_MAXLEN = 64          # progress entries kept per job (late SSE readers only need the tail)
LIVE_TTL = 24 * 3600        # seconds an unfinished job's keys live at most (a safety net, not a limit)

LIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


def key(kind: str, job_id: str = "") -> str:
    return f"{PREFIX}:{kind}:{job_id}" if job_id else f"{PREFIX}:{kind}"


def to_fields(status: JobStatus) -> dict[str, str]:
    """A JobStatus as Redis hash fields (None values are written as empty strings)."""
    data = asdict(status)
    data["state"] = status.state.value
    data.pop("id")
    data["tile"] = None if status.tile is None else json.dumps(list(status.tile))
    data["plan"] = None if status.plan is None else json.dumps(status.plan)
    return {name: "" if value is None else str(value) for name, value in data.items()}


def from_fields(job_id: str, fields: dict[bytes, bytes]) -> JobStatus:
    """The inverse of `to_fields`, tolerant of fields a newer writer added."""
    text = {k.decode(): v.decode() for k, v in fields.items()}

    def number(name: str, kind: type = float, default: Any = 0) -> Any:
        value = text.get(name, "")
        return kind(float(value)) if value not in ("", "None") else default

    return JobStatus(id=job_id, state=JobState(text.get("state", "queued")), step=number("step", int),
                     total=number("total", int), elapsed=number("elapsed"), eta=number("eta", default=None),
                     error=text.get("error") or None, error_kind=text.get("error_kind") or None, created=number("created", default=time.time()),
                     finished=number("finished", default=None), worker=text.get("worker") or None,
                     tile=_tile(json.loads(text["tile"])) if text.get("tile") else None,
                     plan=json.loads(text["plan"]) if text.get("plan") else None, kind=text.get("kind") or "image")


def _tile(value: Any) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None


def status_json(status: JobStatus) -> str:
    data = asdict(status)
    data["state"] = status.state.value
    return json.dumps(data)


def status_from_json(text: bytes | str) -> JobStatus:
    data = json.loads(text)
    data["state"] = JobState(data["state"])
    data["tile"] = _tile(data.get("tile"))
    return JobStatus(**{name: value for name, value in data.items() if name in _STATUS_FIELDS})


_STATUS_FIELDS = frozenset(JobStatus.__dataclass_fields__)


# KEYS: job hash, queued zset, events stream, input
# ARGV: allowed current states ("queued,running"), job id, ttl (0: keep), event json, then field/value pairs.
# Returns 1 when applied. A final state removes the job from `queued`, drops the inputs and sets
# the TTL on what is left; every change appends an event so SSE readers wake up.
_TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if not string.find(',' .. ARGV[1] .. ',', ',' .. state .. ',', 1, true) then return 0 end
local pairs_ = {}
for i = 5, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(pairs_))
local new_state = redis.call('HGET', KEYS[1], 'state')
if new_state ~= 'queued' then redis.call('ZREM', KEYS[2], ARGV[2]) end
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '64', '*', 'status', ARGV[4])
  if tonumber(ARGV[3]) == 0 then redis.call('EXPIRE', KEYS[3], LIVE_TTL) end
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('DEL', KEYS[4])
end
return 1
""".replace("LIVE_TTL", str(LIVE_TTL))


class JobStore:
    """Reads and conditional writes of job state; `redis` is a redis-py client (bytes mode)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._transition = redis.register_script(_TRANSITION)

    def create(self, status: JobStatus, images: dict[str, bytes], settings: dict[str, Any]) -> int:
        """Store a new queued job, its task settings and inputs; returns how many jobs are now queued."""
        pipe = self.redis.pipeline()
        pipe.hset(key("job", status.id), mapping={**to_fields(status), "settings": json.dumps(settings)})
        pipe.expire(key("job", status.id), LIVE_TTL)
        pipe.hset(key("input", status.id), mapping=images)
        pipe.expire(key("input", status.id), LIVE_TTL)
        pipe.zremrangebyscore(key("queued"), "-inf", status.created - LIVE_TTL)  # ids that expired unrun
        pipe.zadd(key("queued"), {status.id: status.created})
        pipe.zcard(key("queued"))
        return int(pipe.execute()[-1])

    def forget(self, job_id: str) -> None:
        """Undo `create` (the job was refused or could not be sent)."""
        self.redis.delete(key("job", job_id), key("input", job_id), key("events", job_id))
        self.redis.zrem(key("queued"), job_id)

    def get(self, job_id: str) -> JobStatus | None:
        fields = self.redis.hgetall(key("job", job_id))
        return from_fields(job_id, fields) if fields else None

    def field(self, job_id: str, name: str) -> str | None:
        value = self.redis.hget(key("job", job_id), name)
        return value.decode() if value is not None else None

    def transition(self, status: JobStatus, allowed: tuple[JobState, ...], ttl: int = 0,
                   extra: dict[str, str] | None = None, event: bool = True) -> bool:
        """Write `status` if the job's current state is one of `allowed`; True when written."""
        fields = {**to_fields(status), **(extra or {})}
        flat = [item for pair in fields.items() for item in pair]
        args = [",".join(s.value for s in allowed), status.id, ttl, status_json(status) if event else "", *flat]
        keys = [key("job", status.id), key("queued"), key("events", status.id), key("input", status.id)]
        return bool(self._transition(keys=keys, args=args))

    def add_event(self, status: JobStatus, preview: bytes | None = None) -> None:
        entry: dict[str, Any] = {"status": status_json(status)}
        if preview is not None:
            entry["preview"] = preview
        pipe = self.redis.pipeline()
        pipe.xadd(key("events", status.id), entry, maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.expire(key("events", status.id), LIVE_TTL)
        pipe.execute()

    def queued_count(self) -> int:
        return int(self.redis.zcard(key("queued")))

    def average_seconds(self) -> float | None:
        """Mean run time of finished jobs (for Retry-After), None before the first one."""
        stats = self.redis.hgetall(key("stats"))
        count = int(stats.get(b"count", 0))
        return float(stats.get(b"seconds", 0)) / count if count else None

    def record_seconds(self, seconds: float) -> None:
        pipe = self.redis.pipeline()
        pipe.hincrby(key("stats"), "count", 1)
        pipe.hincrbyfloat(key("stats"), "seconds", seconds)
        pipe.execute()
