//! `Shutdown::run`, in process on a paused clock: what it returns when the server fails,
//! and a deadline too far for `Instant` meaning "never". Each test was written against a
//! mutant cargo-mutants found alive (`cargo xtask mutants drain`).

use std::io;
use std::time::Duration;

use ebb_shutdown::{Shutdown, ShutdownConfig};

#[tokio::test(start_paused = true)]
async fn the_servers_own_error_is_returned_after_the_sequence() {
    let shutdown = Shutdown::new(ShutdownConfig::new().with_delay(Duration::ZERO));
    let failed = shutdown.run(async { Err::<(), _>(io::Error::other("the listener broke")) }).await;
    let error = failed.expect_err("the server's error, not a report");
    assert_eq!(error.to_string(), "the listener broke");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_beyond_the_clock_never_cuts_a_server_that_ends_years_later() {
    // Two years: past every shortened "far future" (up to one year), within Tokio's timers.
    const YEARS_LATER: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
    let config = ShutdownConfig::new().with_delay(Duration::ZERO).with_timeout(Duration::MAX);
    let shutdown = Shutdown::new(config);
    shutdown.trigger();
    let report = shutdown
        .run(async {
            tokio::time::sleep(YEARS_LATER).await;
            Ok::<(), io::Error>(())
        })
        .await
        .expect("report");
    assert!(report.is_clean(), "nothing cut: {report:?}");
    // (The report counts from the signal's wall-clock instant: microseconds off the paused one.)
    let ended = YEARS_LATER - Duration::from_secs(1);
    assert!(report.elapsed >= ended, "the deadline fired after {:?}", report.elapsed);
}

#[tokio::test(start_paused = true)]
async fn connections_still_open_at_the_deadline_are_counted_with_those_the_server_recorded() {
    let config = ShutdownConfig::new().with_delay(Duration::ZERO).with_timeout(Duration::from_secs(1));
    let shutdown = Shutdown::new(config);
    // Two idle connections the server never closes, and one it closed with a head unanswered.
    let open = [shutdown.track_connection(), shutdown.track_connection()];
    shutdown.record_cut_connection();
    shutdown.trigger();
    let report = shutdown.run(std::future::pending::<io::Result<()>>()).await.expect("report");
    assert_eq!(report.cut_requests, 0, "{report:?}");
    assert_eq!(report.cut_connections, 3, "two stranded and one recorded: {report:?}");
    drop(open);
}
