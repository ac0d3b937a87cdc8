//! The load a node reports beside its rooms and participants (`coord::registry::Load`): the media
//! datagrams it sent per second and the CPU its process used, as a percentage of one core, both
//! over the last interval between two registry writes. Read from counters (the UDP sender's, the
//! kernel's `/proc/self/stat`); the arithmetic is plain so tests drive it with made-up samples.

use std::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, 100 on every Linux ABI the hub runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// The previous sample, to take differences from.
#[derive(Debug, Default)]
pub struct Meter {
    last: Option<(Instant, u64, u64)>,
}

impl Meter {
    /// CPU (% of one core) and datagrams per second since the previous sample; zeros the first
    /// time, or when a counter is missing or went backwards.
    pub fn sample(&mut self, now: Instant, cpu_ticks: Option<u64>, datagrams: u64) -> (f32, u64) {
        let ticks = cpu_ticks.unwrap_or(0);
        let previous = self.last.replace((now, ticks, datagrams));
        let Some((then, then_ticks, then_datagrams)) = previous else { return (0.0, 0) };
        let secs = now.saturating_duration_since(then).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0);
        }
        let cpu = match cpu_ticks {
            Some(t) if t >= then_ticks => ((t - then_ticks) as f64 / TICKS_PER_SECOND / secs * 100.0) as f32,
            _ => 0.0,
        };
        let rate = (datagrams.saturating_sub(then_datagrams) as f64 / secs).round() as u64;
        (cpu, rate)
    }
}

/// This process's user + system CPU time so far, in clock ticks.
pub fn cpu_ticks() -> Option<u64> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime + stime` from a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces or parentheses itself, so fields are counted after the last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3), ppid (4) … utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_name_whatever_it_holds() {
        let line = "4242 (lectern hub) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 0 0";
        assert_eq!(parse_stat(line), Some(300));
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert!(cpu_ticks().is_some(), "this process's own stat reads");
    }

    #[test]
    fn cpu_and_packet_rates_come_from_the_differences_over_the_interval() {
        let mut m = Meter::default();
        let t0 = Instant::now();
        assert_eq!(m.sample(t0, Some(1_000), 50_000), (0.0, 0), "nothing to compare with yet");
        // 2 s later: 50 ticks (0.5 s of CPU) and 18 000 datagrams.
        let (cpu, rate) = m.sample(t0 + Duration::from_secs(2), Some(1_050), 68_000);
        assert!((cpu - 25.0).abs() < 0.01, "{cpu}");
        assert_eq!(rate, 9_000);
        let (cpu, rate) = m.sample(t0 + Duration::from_secs(4), None, 68_000);
        assert_eq!((cpu, rate), (0.0, 0), "an unreadable stat counts as idle, not as a spike");
    }
}
