//! The side-by-side table every scenario prints: a few context lines, then one row per figure with a
//! Lectern column, a Janus column and the ratio Lectern/Janus (below 1 means Lectern needs less).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::hub;
use crate::sfu::Sfu;

/// Lectern's figures and, unless skipped or impossible, Janus's from the same run; also the `--json` file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Both<R> {
    pub lectern: R,
    pub janus: Option<R>,
    /// Why there is no Janus column, when there is none.
    pub janus_missing: Option<String>,
}

/// Runs `scenario` on a fresh hub, then (with `janus`) on a fresh Janus, one after the other, with the
/// generator on one core and the server on the other when `pin` and two cores allow.
pub fn run_both<R>(
    hub_bin: &Path,
    pin: bool,
    janus: bool,
    max_publishers: usize,
    scenario: impl Fn(&Sfu, Option<(usize, usize)>) -> anyhow::Result<R>,
) -> anyhow::Result<Both<R>> {
    run_both_rooms(hub_bin, pin, janus, max_publishers, 1, scenario)
}

/// [`run_both`] where Janus gets `rooms` VideoRooms (the hub makes its rooms as clients join them).
pub fn run_both_rooms<R>(
    hub_bin: &Path,
    pin: bool,
    janus: bool,
    max_publishers: usize,
    rooms: usize,
    scenario: impl Fn(&Sfu, Option<(usize, usize)>) -> anyhow::Result<R>,
) -> anyhow::Result<Both<R>> {
    let cores = if pin { hub::pick_cores() } else { None };
    if let Some((gen_cpu, _)) = cores {
        hub::pin_self(gen_cpu)?;
    }
    let server_cpu = cores.map(|c| c.1);
    let lectern = scenario(&Sfu::lectern(hub_bin, server_cpu)?, cores)?;
    let (janus, janus_missing) = if janus {
        match Sfu::janus_rooms(server_cpu, max_publishers, rooms)
            .and_then(|sfu| scenario(&sfu, cores).map_err(|e| sfu.explain(e)))
        {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    } else {
        (None, Some("skipped (--no-janus)".into()))
    };
    Ok(Both { lectern, janus, janus_missing })
}

/// The note under a table that has no Janus column.
pub fn missing_note<R>(b: &Both<R>) -> Vec<String> {
    b.janus_missing.iter().map(|m| format!("no Janus figures: {m}")).collect()
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub label: &'static str,
    pub lectern: f64,
    /// `None` when Janus did not run or this figure cannot be taken on it.
    pub janus: Option<f64>,
    pub decimals: usize,
}

impl Figure {
    pub fn new(label: &'static str, lectern: f64, janus: Option<f64>, decimals: usize) -> Self {
        Self { label, lectern, janus, decimals }
    }
}

/// The ratio column: `-` without a Janus figure or when Janus's is zero.
pub fn ratio(lectern: f64, janus: Option<f64>) -> Option<f64> {
    janus.filter(|j| *j != 0.0).map(|j| lectern / j)
}

/// Context lines (`key value`), the figures, then why a Janus figure is missing (`notes`).
pub fn table(context: &[(&str, String)], figures: &[Figure], notes: &[String]) -> String {
    let mut out = String::new();
    for (k, v) in context {
        out.push_str(&format!("{k:<22} {v}\n"));
    }
    out.push_str(&format!("{:<22} {:>12} {:>12} {:>14}\n", "figure", "Lectern", "Janus", "Lectern/Janus"));
    for f in figures {
        let d = f.decimals;
        let janus = f.janus.map_or_else(|| "-".to_owned(), |j| format!("{j:.d$}"));
        let ratio = ratio(f.lectern, f.janus).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        out.push_str(&format!("{:<22} {:>12.d$} {janus:>12} {ratio:>14}\n", f.label, f.lectern));
    }
    for n in notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_ratio_column_and_explains_gaps() {
        let t = table(
            &[("scenario", "x".into())],
            &[Figure::new("µs/pkt", 5.0, Some(10.0), 2), Figure::new("join p50 ms", 3.0, None, 1)],
            &["Janus: not installed".into()],
        );
        assert!(t.contains("Lectern/Janus"));
        assert!(t.contains("0.50"), "{t}");
        assert!(t.contains("note: Janus: not installed"));
        assert_eq!(ratio(1.0, Some(0.0)), None);
    }
}
