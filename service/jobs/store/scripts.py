"""Lua scripts: every state change of a job is one atomic step in Redis.

Each script takes ARGV[1] = key prefix and ARGV[2] = job id, and keeps the record, the
per-state indexes and the event stream consistent with each other. Ownership of a running job
is the `lease_token` field: only the worker holding it may report progress or finish the job.

A lease that is missing is not yet a dead worker: after a Redis restart every lease may have
expired while Redis was down, and the workers renew theirs within a second of its return. So
a reaper first notes when it found the lease missing (`lease_missing_ms`, Redis' own clock)
and re-queues the job only if the lease is still missing a full grace period later.
"""

from __future__ import annotations

_PRELUDE = """
local P = ARGV[1]
local id = ARGV[2]
local job = P .. 'job:' .. id
local stream = job .. ':events'
local lease = job .. ':lease'
local function move(to)
  local from = redis.call('HGET', job, 'state')
  local score = redis.call('HGET', job, 'created_ms')
  redis.call('ZREM', P .. 'jobs:state:' .. from, id)
  redis.call('ZADD', P .. 'jobs:state:' .. to, score, id)
  redis.call('HSET', job, 'state', to)
end
local function emit(event)
  event['job_id'] = id
  event['attempt'] = tonumber(redis.call('HGET', job, 'attempts') or '0')
  event['step'] = tonumber(redis.call('HGET', job, 'step') or '0')
  event['total_steps'] = tonumber(redis.call('HGET', job, 'total_steps') or '0')
  redis.call('XADD', stream, 'MAXLEN', '~', 5000, '*', 'data', cjson.encode(event))
end
local function emit_raw(data)
  redis.call('XADD', stream, 'MAXLEN', '~', 5000, '*', 'data', data)
end
local function finish(to, now, err)
  move(to)
  redis.call('HSET', job, 'finished_at', now, 'updated_at', now)
  if err ~= '' then redis.call('HSET', job, 'error', err) end
  redis.call('HDEL', job, 'lease_token', 'reaped_token', 'lease_missing_ms')
  redis.call('DEL', lease)
  local event = {type = 'state', state = to}
  if err ~= '' then event['error'] = err end
  emit(event)
end
"""

# ARGV: P, id, max_queued, name, created_ms, field, value, ...
CREATE = (
    _PRELUDE
    + """
if redis.call('ZCARD', P .. 'jobs:state:queued') >= tonumber(ARGV[3]) then return 'full' end
if redis.call('HSETNX', P .. 'jobs:names', ARGV[4], id) == 0 then return 'name' end
redis.call('HSET', job, unpack(ARGV, 6))
redis.call('ZADD', P .. 'jobs', ARGV[5], id)
redis.call('ZADD', P .. 'jobs:state:queued', ARGV[5], id)
emit({type = 'state', state = 'queued'})
return 'ok'
"""
)

# ARGV: P, id, token, lease_ms, now, worker
CLAIM = (
    _PRELUDE
    + """
local state = redis.call('HGET', job, 'state')
if not state then return 'missing' end
if state ~= 'queued' and state ~= 'running' then return 'terminal' end
-- a running job belongs to its worker; if that worker died, a reaper re-queues the job
if state == 'running' then return 'busy' end
if redis.call('HGET', job, 'cancel_requested') == '1' then
  finish('cancelled', ARGV[5], '')
  return 'cancelled'
end
redis.call('HINCRBY', job, 'attempts', 1)
move('running')
redis.call('HSET', job, 'lease_token', ARGV[3], 'worker', ARGV[6], 'updated_at', ARGV[5])
redis.call('HSETNX', job, 'started_at', ARGV[5])
redis.call('HDEL', job, 'lease_missing_ms', 'reaped_token')
redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
emit({type = 'state', state = 'running', worker = ARGV[6]})
return 'ok'
"""
)

# ARGV: P, id, token, lease_ms -> -1 lost, 0 keep going, 1 cancel requested
HEARTBEAT = (
    _PRELUDE
    + """
if redis.call('HGET', job, 'lease_token') ~= ARGV[3] then return -1 end
if redis.call('HGET', job, 'state') ~= 'running' then return -1 end
redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
redis.call('HDEL', job, 'lease_missing_ms')
if redis.call('HGET', job, 'cancel_requested') == '1' then return 1 end
return 0
"""
)

# ARGV: P, id, token, event_json, field, value, ...
PROGRESS = (
    _PRELUDE
    + """
if redis.call('HGET', job, 'lease_token') ~= ARGV[3] then return 0 end
redis.call('HSET', job, unpack(ARGV, 5))
emit_raw(ARGV[4])
return 1
"""
)

# ARGV: P, id, token, to_state, now, error, field, value, ...
# The owner may also finish a job a reaper took from it if no other worker has claimed it since
# (its queued message then finds the job over and drops it): the result is kept, not re-run.
FINISH = (
    _PRELUDE
    + """
if redis.call('HGET', job, 'lease_token') ~= ARGV[3] then
  local requeued = redis.call('HGET', job, 'state') == 'queued'
  if not (requeued and redis.call('HGET', job, 'reaped_token') == ARGV[3]) then return 0 end
end
if #ARGV > 6 then redis.call('HSET', job, unpack(ARGV, 7)) end
finish(ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

# ARGV: P, id, token, now, note  (the owner gives the job back, e.g. its worker shuts down)
REQUEUE = (
    _PRELUDE
    + """
if redis.call('HGET', job, 'lease_token') ~= ARGV[3] then return 0 end
move('queued')
redis.call('HSET', job, 'updated_at', ARGV[4])
redis.call('HDEL', job, 'lease_token')
redis.call('DEL', lease)
emit({type = 'state', state = 'queued', note = ARGV[5]})
return 1
"""
)

# ARGV: P, id, now
CANCEL = (
    _PRELUDE
    + """
local state = redis.call('HGET', job, 'state')
if not state then return 'missing' end
if state == 'queued' then
  finish('cancelled', ARGV[3], '')
  return 'cancelled'
end
if state == 'running' then
  if redis.call('HGET', job, 'cancel_requested') ~= '1' then
    redis.call('HSET', job, 'cancel_requested', '1', 'updated_at', ARGV[3])
    emit({type = 'cancel_requested'})
  end
  return 'requested'
end
return state
"""
)

# ARGV: P, '', now, max_crashes, grace_ms -> ids put back in the queue (each needs a new message)
REAP = (
    _PRELUDE
    + """
local requeued = {}
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for _, jid in ipairs(redis.call('ZRANGE', P .. 'jobs:state:running', 0, -1)) do
  id = jid
  job = P .. 'job:' .. id
  stream = job .. ':events'
  lease = job .. ':lease'
  local missing_since = tonumber(redis.call('HGET', job, 'lease_missing_ms') or '')
  if redis.call('EXISTS', lease) == 1 then
    if missing_since then redis.call('HDEL', job, 'lease_missing_ms') end
  elseif not missing_since then
    redis.call('HSET', job, 'lease_missing_ms', now_ms)
  elseif now_ms - missing_since >= tonumber(ARGV[5]) then
    redis.call('HDEL', job, 'lease_missing_ms')
    local crashes = redis.call('HINCRBY', job, 'crashes', 1)
    if crashes > tonumber(ARGV[4]) then
      finish('failed', ARGV[3], 'the worker running this job died ' .. crashes ..
        ' times (killed, or out of memory?); giving up')
    else
      move('queued')
      local token = redis.call('HGET', job, 'lease_token')
      if token then redis.call('HSET', job, 'reaped_token', token) end
      redis.call('HSET', job, 'updated_at', ARGV[3])
      redis.call('HDEL', job, 'lease_token')
      emit({type = 'state', state = 'queued', note = 'worker lost (lease expired); re-queued'})
      table.insert(requeued, id)
    end
  end
end
return requeued
"""
)

# ARGV: P, id -> 'deleted', 'missing', or the state of a job that has not ended (kept)
DELETE = (
    _PRELUDE
    + """
local state = redis.call('HGET', job, 'state')
if not state then return 'missing' end
if state == 'queued' or state == 'running' then return state end
local name = redis.call('HGET', job, 'name')
redis.call('DEL', job, stream, lease)
redis.call('ZREM', P .. 'jobs', id)
redis.call('ZREM', P .. 'jobs:state:' .. state, id)
if name and redis.call('HGET', P .. 'jobs:names', name) == id then
  redis.call('HDEL', P .. 'jobs:names', name)
end
return 'deleted'
"""
)
