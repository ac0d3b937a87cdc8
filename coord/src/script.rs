//! The lease requests as Redis Lua scripts, run atomically by `EVAL`; [`crate::model`] is their
//! specification. `KEYS[1]` is the room's key, `KEYS[2]` the store's boot key (never expires);
//! `ARGV[1]` the token, `ARGV[2]` the ttl in ms. Replies are arrays: `{"granted"}`,
//! `{"held", owner}`, `{"grace", remaining_ms}`, `{"released"}`.
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

pub fn acquire() -> String {
    format!(
        "{PRELUDE}
if now < boot + ttl then return {{'grace', boot + ttl - now}} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then return {{'granted'}} end
return {{'held', redis.call('GET', KEYS[1])}}
"
    )
}

pub fn renew() -> String {
    format!(
        "{PRELUDE}
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {{'held', cur}} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return {{'granted'}}
"
    )
}

pub const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return {'released'}
";
