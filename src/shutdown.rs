//! Process signals to a [`CancellationToken`].
//!
//! The token is the only shutdown signal sources see; everything downstream
//! finishes when its input channel closes (STYLE.md §8.6).

use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on SIGINT (Ctrl-C) or SIGTERM.
pub fn signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
            let _ignored = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ignored = tokio::signal::ctrl_c().await;
}
