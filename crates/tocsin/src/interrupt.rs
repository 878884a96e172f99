//! Ctrl-C (and SIGTERM, SIGHUP) for the live commands. The first signal asks the run to
//! stop after its current step: experiments put back what they changed (a revoked key
//! is restored), and the report with the findings made so far is written, marked
//! interrupted. A second signal quits at once, after stopping the app under test.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use crate::app_process::stop_group;

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Process group of the app `tocsin scan --run` started (0: none).
static APP_GROUP: AtomicI32 = AtomicI32::new(0);
static HANDLER: Once = Once::new();

/// Installs the handler (once) and returns the flag a run polls.
pub fn install() -> &'static AtomicBool {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
                STOP.store(true, Ordering::SeqCst);
                eprintln!(
                    "\ntocsin: stopping after the current step and writing what was found \
                     (interrupt again to quit at once)"
                );
                return;
            }
            let pgid = APP_GROUP.swap(0, Ordering::SeqCst);
            stop_group(pgid, Duration::from_millis(500), None);
            eprintln!("tocsin: interrupted");
            std::process::exit(130);
        });
    });
    &STOP
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The app's process group, for the handler to stop on a second signal.
pub fn set_app_group(pgid: i32) {
    APP_GROUP.store(pgid, Ordering::SeqCst);
}

/// Asks the run to stop as a first Ctrl-C would (a `tocsin scan` timeout).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
