//! The lease requests as Redis Lua scripts, run atomically by `EVAL`; [`crate::model`] is their
//! specification. `KEYS[1]` is the room's key, `KEYS[2]` the store's boot key (never expires),
//! `KEYS[3]` the room's epoch counter; `ARGV[1]` the token (for `Acquire` the node), `ARGV[2]` the
//! ttl in ms, `ARGV[3]` the floor for a new epoch. Replies are arrays: `{"granted"}`,
//! `{"acquired", epoch}`, `{"held", owner}`, `{"grace", remaining_ms}`, `{"released"}`.
//!
//! Time comes from Redis's own clock (`TIME`, allowed in scripts since Redis 5's effect
//! replication, the default from 7), the clock its key expiry runs on.

/// Reads (or creates) the boot key into `boot` and the store's time into `now`.
const PRELUDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local boot = redis.call('GET', KEYS[2])
if not boot then
  redis.call('SET', KEYS[2], tostring(now))
  boot = now
else
  boot = tonumber(boot)
end
local ttl = tonumber(ARGV[2])
";

/// Creates the room's key for node `$node` under the next epoch (above the counter and the floor).
const CREATE: &str = r"
local function create(node)
  local epoch = redis.call('INCR', KEYS[3])
  local floor = tonumber(ARGV[3])
  if epoch <= floor then
    epoch = floor + 1
    redis.call('SET', KEYS[3], tostring(epoch))
  end
  redis.call('SET', KEYS[1], node .. '#' .. epoch, 'PX', ttl)
  return {'acquired', epoch}
end
";

pub fn acquire() -> String {
    format!(
        "{PRELUDE}{CREATE}
if now < boot + ttl then return {{'grace', boot + ttl - now}} end
local cur = redis.call('GET', KEYS[1])
if cur then return {{'held', cur}} end
return create(ARGV[1])
"
    )
}

pub fn renew() -> String {
    format!(
        "{PRELUDE}{CREATE}
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {{'held', cur}} end
if not cur then return create(string.match(ARGV[1], '^(.*)#[0-9]+$') or ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return {{'granted'}}
"
    )
}

pub const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return {'released'}
";
