//! The virus-scan hook: `[files] scan_command` run on each upload before it is offered. Exit 0 is
//! clean, 1 is infected (ClamAV's convention), anything else — another code, a signal, a missing
//! program, the timeout — is a failed scan: the file is not offered either way.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// What the scanner said of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The scanner's first line of output, for the log (e.g. `…: Eicar-Signature FOUND`).
    Infected(String),
    /// Why the scan did not give an answer (for the log; the client hears "scan failed").
    Failed(String),
}

/// Runs `argv` (with `{path}` replaced by `path`) and waits at most `timeout`; the scanner is killed
/// past it.
pub async fn scan(argv: &[String], path: &Path, timeout: Duration) -> Verdict {
    let path = path.to_string_lossy();
    let args: Vec<String> = argv.iter().map(|a| a.replace("{path}", &path)).collect();
    let Some((program, rest)) = args.split_first() else { return Verdict::Failed("no scan command".into()) };
    let child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => return Verdict::Failed(format!("{program} did not start: {e}")),
    };
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => return Verdict::Failed(format!("{program} ran longer than {} s", timeout.as_secs())),
        Ok(Err(e)) => return Verdict::Failed(format!("{program}: {e}")),
        Ok(Ok(out)) => out,
    };
    let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).lines().next().unwrap_or_default().trim().to_owned();
    match out.status.code() {
        Some(0) => Verdict::Clean,
        Some(1) => Verdict::Infected(said(&out.stdout)),
        Some(code) => Verdict::Failed(format!("{program} exited with {code}: {}", said(&out.stderr))),
        None => Verdict::Failed(format!("{program} was killed by a signal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into(), "scan".into(), "{path}".into()]
    }

    #[tokio::test]
    async fn exit_codes_and_the_timeout_decide_the_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "hello").unwrap();
        let t = Duration::from_secs(20);
        assert_eq!(scan(&sh("grep -q hello \"$1\" && exit 0; exit 1"), &file, t).await, Verdict::Clean);
        let infected = scan(&sh("echo \"$1: Eicar FOUND\"; exit 1"), &file, t).await;
        assert!(matches!(&infected, Verdict::Infected(m) if m.ends_with("f.txt: Eicar FOUND")), "{infected:?}");
        assert!(matches!(scan(&sh("exit 2"), &file, t).await, Verdict::Failed(_)));
        assert!(matches!(scan(&["/nonexistent/scanner".into()], &file, t).await, Verdict::Failed(_)));
        let slow = scan(&sh("sleep 30"), &file, Duration::from_millis(200)).await;
        assert!(matches!(&slow, Verdict::Failed(m) if m.contains("longer than")), "{slow:?}");
    }
}
