//! SIGINT/SIGTERM → a clean shutdown (WHIP DELETE, pipeline to `Null`); a second signal
//! exits at once, for when a hung hub keeps the clean path waiting.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::run::ShutdownHandle;

/// Starts a thread that turns termination signals into shutdown requests.
pub fn forward_termination(handle: ShutdownHandle) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
        let mut received = 0;
        for signal in signals.forever() {
            received += 1;
            if received > 1 {
                tracing::warn!(signal, "second termination signal: exiting now");
                std::process::exit(130);
            }
            handle.request();
        }
    })?;
    Ok(())
}
