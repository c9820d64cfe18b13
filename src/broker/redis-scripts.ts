/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis; every key a script
 * touches is passed in KEYS. Times that the broker contract ties to the injected clock
 * (published_at, history expiry, jti expiry) come in ARGV; presence heartbeats use the
 * Redis clock (TIME), so that nodes with skewed clocks agree on who is stale.
 *
 * Stored message (one history list entry and one channel payload), built once here:
 * `{"epoch":"…","offset":N,"published_at":T,<the message's own fields>}`.
 */

/**
 * Fencing (docs/scaling.md). A room's state in Redis is trusted only within the dataset
 * generation it was written in. The generation key holds `<run_id>|<generation>`: the
 * run_id of the Redis process that started the generation (INFO server, read by the node
 * on each connection). A restart (from any snapshot or AOF) or a failover to another
 * process changes the run_id, so the first script run there starts a new generation; a
 * FLUSHALL or an eviction of the key does too. A room meta from another generation may be
 * behind what was acknowledged: the room starts afresh with a new epoch (history dropped),
 * so that no (epoch, offset) is ever given to two different messages.
 * Expects `gen_key`, `run_id`, `candidate_gen`; sets `gen`.
 */
const GENERATION_LUA = `
local gen
local current = redis.call('GET', gen_key)
if current then
  local sep = string.find(current, '|', 1, true)
  if sep and string.sub(current, 1, sep - 1) == run_id then gen = string.sub(current, sep + 1) end
end
if gen then
  redis.call('PEXPIRE', gen_key, gen_ttl)
else
  gen = candidate_gen
  redis.call('SET', gen_key, run_id .. '|' .. gen, 'PX', gen_ttl)
end
`

/**
 * Append a batch across rooms, all or nothing, then PUBLISH each entry on its room's
 * channel in offset order.
 * KEYS: meta₁, history₁, meta₂, history₂, … (one pair per distinct room), generation.
 * ARGV: now, history size, history TTL ms, meta TTL ms, room count R, run_id,
 *       candidate generation,
 *       then per room: channel, candidate epoch (used only if the room has no meta of the
 *       current generation),
 *       then per message: room index (1-based), message JSON (an object).
 * Returns per room: epoch, offset before the batch.
 * Every check (key types) runs before the first write: a failing script writes nothing.
 */
export const PUBLISH_SCRIPT = `
local now = ARGV[1]
local size = tonumber(ARGV[2])
local cutoff = tonumber(now) - tonumber(ARGV[3])
local rooms = tonumber(ARGV[5])
for r = 1, rooms do
  local m = redis.call('TYPE', KEYS[2 * r - 1])['ok']
  local h = redis.call('TYPE', KEYS[2 * r])['ok']
  if (m ~= 'hash' and m ~= 'none') or (h ~= 'list' and h ~= 'none') then
    return redis.error_reply('WRONGTYPE the history keys of ' .. KEYS[2 * r] .. ' hold another kind of value')
  end
end
local gen_key, run_id, candidate_gen, gen_ttl = KEYS[#KEYS], ARGV[6], ARGV[7], ARGV[4]
${GENERATION_LUA}
local epochs, offsets, fresh, result = {}, {}, {}, {}
for r = 1, rooms do
  local state = redis.call('HMGET', KEYS[2 * r - 1], 'epoch', 'offset', 'gen')
  if state[1] and state[3] == gen then
    epochs[r] = state[1]
    offsets[r] = tonumber(state[2]) or 0
  else
    epochs[r] = ARGV[7 + 2 * r]
    offsets[r] = 0
    fresh[r] = true
  end
  result[2 * r - 1] = epochs[r]
  result[2 * r] = offsets[r]
end
for r = 1, rooms do
  if fresh[r] then redis.call('DEL', KEYS[2 * r]) end
end
local entries = {}
for i = 8 + 2 * rooms, #ARGV, 2 do
  local r = tonumber(ARGV[i])
  offsets[r] = offsets[r] + 1
  local entry = '{"epoch":"' .. epochs[r] .. '","offset":' .. string.format('%d', offsets[r]) ..
    ',"published_at":' .. now .. ',' .. string.sub(ARGV[i + 1], 2)
  redis.call('RPUSH', KEYS[2 * r], entry)
  entries[#entries + 1] = { r, entry }
end
for r = 1, rooms do
  local meta, list = KEYS[2 * r - 1], KEYS[2 * r]
  redis.call('HSET', meta, 'epoch', epochs[r], 'offset', offsets[r], 'gen', gen)
  redis.call('PEXPIRE', meta, ARGV[4])
  redis.call('LTRIM', list, -size, -1)
  while true do
    local first = redis.call('LINDEX', list, 0)
    if not first then break end
    local at = tonumber(string.match(first, '"published_at":(%d+)'))
    if at and at >= cutoff then break end
    redis.call('LPOP', list)
  end
  redis.call('PEXPIRE', list, ARGV[3])
end
for _, e in ipairs(entries) do
  redis.call('PUBLISH', ARGV[6 + 2 * e[1]], e[2])
end
return result
`

/**
 * A room's position and, with a since, the entries after it. Gives a room without meta
 * of the current generation its epoch (the candidate), so that the epoch announced for
 * an empty room is the epoch of its first message.
 * KEYS: meta, history, generation. ARGV: now, history TTL ms, meta TTL ms, candidate
 *       epoch, since epoch ('' for none), since offset, run_id, candidate generation.
 * Returns: epoch, offset, covered (1/0), then the entries after since, oldest first.
 */
export const HISTORY_SCRIPT = `
local gen_key, run_id, candidate_gen, gen_ttl = KEYS[3], ARGV[7], ARGV[8], ARGV[3]
${GENERATION_LUA}
local state = redis.call('HMGET', KEYS[1], 'epoch', 'offset', 'gen')
local epoch, offset = state[1], tonumber(state[2])
if not epoch or state[3] ~= gen then
  epoch, offset = ARGV[4], 0
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0, 'gen', gen)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[5] == '' or ARGV[5] ~= epoch then return { epoch, offset, 0 } end
local since = tonumber(ARGV[6])
if since > offset then return { epoch, offset, 0 } end
local missed = offset - since
if missed == 0 then return { epoch, offset, 1 } end
if missed > redis.call('LLEN', KEYS[2]) then return { epoch, offset, 0 } end
local entries = redis.call('LRANGE', KEYS[2], -missed, -1)
local at = tonumber(string.match(entries[1], '"published_at":(%d+)'))
if not at or at < tonumber(ARGV[1]) - tonumber(ARGV[2]) then return { epoch, offset, 0 } end
local result = { epoch, offset, 1 }
for i = 1, #entries do result[i + 3] = entries[i] end
return result
`

/**
 * Claim a jti (SET NX PX), or answer what its first publish accepted. The value is
 * `<expiry ms by the caller's clock>|<accepted JSON, '' while in flight>`; an entry past
 * its expiry by the caller's clock is claimable again. A claim in flight lives only for
 * the in-flight ttl: a claim left behind by a node that lost Redis mid-publish blocks the
 * backend's retries for that long at most, never for the whole jti window.
 * KEYS: jti. ARGV: now, in-flight ttl ms. Returns nil for a new claim, '' for a claim still
 * in flight, else the accepted JSON.
 */
export const CLAIM_JTI_SCRIPT = `
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local claim = string.format('%d', now + ttl) .. '|'
if redis.call('SET', KEYS[1], claim, 'NX', 'PX', ttl) then return false end
local value = redis.call('GET', KEYS[1])
local sep = value and string.find(value, '|', 1, true)
if sep and tonumber(string.sub(value, 1, sep - 1)) > now then
  return string.sub(value, sep + 1)
end
redis.call('SET', KEYS[1], claim, 'PX', ttl)
return false
`

/**
 * Presence of a room: write (or keep, or remove) this node's share stamped with the Redis
 * clock, optionally PUBLISH a change event, refresh the room's meta TTL (a served room
 * keeps its epoch), drop the shares of nodes silent for longer than stale ms, and return
 * the other nodes' shares.
 * KEYS: presence hash, meta. ARGV: node id, share ('' remove, '-' keep, else
 *       `<seq>|<json>`), stale ms, presence key TTL ms, meta TTL ms, channel, event ('' none).
 * Returns: node, `<seq>|<json>`, node, … for the other live nodes.
 */
export const PRESENCE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node, share = ARGV[1], ARGV[2]
if share == '' then
  redis.call('HDEL', KEYS[1], node)
elseif share ~= '-' then
  redis.call('HSET', KEYS[1], node, string.format('%d', now) .. '|' .. share)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
local stale = now - tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local others = {}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  if field ~= node then
    local sep = string.find(value, '|', 1, true)
    local at = sep and tonumber(string.sub(value, 1, sep - 1))
    if not at or at < stale then
      redis.call('HDEL', KEYS[1], field)
    else
      others[#others + 1] = field
      others[#others + 1] = string.sub(value, sep + 1)
    end
  end
end
return others
`
