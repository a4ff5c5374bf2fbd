//! Hot reload: on SIGHUP, and when the config file changes, the file is read and
//! validated again; a valid config replaces the running one (requests in flight finish
//! under the one they started with), an invalid one is logged with its `FILE:LINE: field:
//! message` diagnostics and the running config stays in force.
//!
//! The watcher watches the file's directory, not the file: editors that save by writing
//! a new file and renaming it over the old one, and orchestrators that swap a symlink,
//! replace the watched inode, which a watch on the file itself would lose. Events are
//! debounced, and a change that leaves the text as it was installs nothing.
//! Settings a running server cannot change (listen address, metrics address, store, log
//! format) keep their running values and are logged as needing a restart.

use floodgate_config::{Config, ConfigError};
use floodgate_gateway::GatewayState;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the watcher waits for a burst of file events to settle before reloading.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reloads one gateway's config.
pub(crate) struct Reloader {
    /// The config file.
    path: PathBuf,
    /// Reads and validates the file, applying the command line's overrides.
    load: Box<dyn Fn() -> anyhow::Result<Config> + Send + Sync>,
    /// The gateway whose config is replaced.
    state: Arc<GatewayState>,
    /// The file's text when the running config was read from it.
    loaded: Option<Vec<u8>>,
}

impl Reloader {
    /// `loaded` is the file's text as read before the running config was loaded from it:
    /// a change made after that is installed even if it comes before the watcher starts.
    pub(crate) fn new(
        path: PathBuf,
        load: impl Fn() -> anyhow::Result<Config> + Send + Sync + 'static,
        state: Arc<GatewayState>,
        loaded: Option<Vec<u8>>,
    ) -> Self {
        Self {
            path,
            load: Box::new(load),
            state,
            loaded,
        }
    }

    /// Reads the file and installs it if valid; `cause` says what asked for it.
    pub(crate) fn reload(&self, cause: &'static str) -> bool {
        let config = match (self.load)() {
            Ok(config) => config,
            Err(e) => {
                self.reject(cause, &e);
                return false;
            }
        };
        let config = keep_restart_settings(config, &self.state.config());
        match self.state.replace_config(config) {
            Ok(()) => {
                self.state.metrics().reload(true);
                tracing::info!(cause, file = %self.path.display(), "config reloaded");
                true
            }
            Err(e) => {
                self.reject(cause, &anyhow::Error::new(e));
                false
            }
        }
    }

    /// Reloads if the file's text differs from `last`, which then becomes it.
    fn reload_if_changed(&self, last: &mut Option<Vec<u8>>) {
        let now = std::fs::read(&self.path).ok();
        if now.is_some() && now != *last {
            self.reload("file changed");
            *last = now;
        }
    }

    fn reject(&self, cause: &'static str, error: &anyhow::Error) {
        self.state.metrics().reload(false);
        let diagnostics = error
            .downcast_ref::<ConfigError>()
            .map(ConfigError::diagnostics)
            .unwrap_or_default();
        if diagnostics.is_empty() {
            tracing::error!(cause, error = %error, "config reload rejected; the running config stays in force");
        }
        for d in diagnostics {
            tracing::error!(cause, error = %d, "config reload rejected; the running config stays in force");
        }
    }

    /// Reloads on every SIGHUP (as `hangups` yields them) and every change of the file,
    /// until the process ends.
    pub(crate) async fn run(self, mut hangups: mpsc::UnboundedReceiver<()>) {
        let (tx, mut changes) = mpsc::unbounded_channel();
        // The watcher lives as long as this task; without it only SIGHUP reloads.
        let _watcher = match watch(&self.path, tx) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "not watching the config file; reload with SIGHUP");
                None
            }
        };
        // The task may start well after the config was loaded (a busy machine): a change
        // made in between sent no event, so the file is compared once now.
        let mut last = self.loaded.clone();
        self.reload_if_changed(&mut last);
        loop {
            tokio::select! {
                Some(()) = changes.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changes.try_recv().is_ok() {}
                    self.reload_if_changed(&mut last);
                }
                Some(()) = hangups.recv() => {
                    self.reload("SIGHUP");
                    last = std::fs::read(&self.path).ok();
                }
                else => std::future::pending::<()>().await,
            }
        }
    }
}

/// `config` with the settings only a restart applies taken from `running`, each change
/// logged.
fn keep_restart_settings(mut config: Config, running: &Config) -> Config {
    let keep = |what: &'static str, changed: bool| {
        if changed {
            tracing::warn!(
                setting = what,
                "changed in the config file; restart to apply it (the running value stays)"
            );
        }
    };
    keep(
        "server.listen",
        config.server.listen != running.server.listen,
    );
    keep(
        "server.metrics / server.metrics_listen",
        config.server.metrics != running.server.metrics,
    );
    keep(
        "server.log_format",
        config.server.log_format != running.server.log_format,
    );
    keep("store", config.store != running.store);
    config.server.listen = running.server.listen;
    config.server.metrics = running.server.metrics;
    config.server.log_format = running.server.log_format;
    config.store = running.store.clone();
    config
}

/// Watches the directory of `path`, sending on `tx` when something in it is written,
/// created, renamed or removed.
fn watch(path: &Path, tx: mpsc::UnboundedSender<()>) -> notify::Result<impl Watcher> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let written = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        if written {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// A channel that yields once per SIGHUP (never, where there are no signals). Call it
/// before serving: until it is installed, a SIGHUP ends the process.
pub(crate) fn hangups() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut signal) => {
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "SIGHUP not handled"),
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str, store: &str) -> Config {
        let text = format!("[server]\n{server}\n[store]\n{store}\n");
        Config::from_str(&text, Path::new("t.toml")).unwrap()
    }

    #[tokio::test]
    async fn a_change_made_before_the_watcher_starts_is_installed() {
        let dir = std::env::temp_dir().join(format!("floodgate-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("floodgate.toml");
        let text = |timeout: &str| {
            format!(
                "[server]\nupstream = \"http://127.0.0.1:9\"\nupstream_timeout = \"{timeout}\"\n"
            )
        };
        std::fs::write(&file, text("5s")).unwrap();
        let loaded = std::fs::read(&file).ok();
        let running = Config::load(&file).unwrap();
        let state = Arc::new(crate::store::gateway_state(running).unwrap());
        let path = file.clone();
        let reloader = Reloader::new(
            file.clone(),
            move || Ok(Config::load(&path)?),
            Arc::clone(&state),
            loaded,
        );
        // saved after the config was loaded, before the reloader's task has run
        std::fs::write(&file, text("7s")).unwrap();
        let (_hangup, hangups) = mpsc::unbounded_channel();
        tokio::spawn(reloader.run(hangups));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while state.config().server.upstream_timeout != 7_000_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the change was never installed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let running = config("listen = \"127.0.0.1:8080\"", "kind = \"memory\"");
        let next = config(
            "listen = \"0.0.0.0:9999\"\nlog_format = \"json\"\nmetrics = false\nupstream_timeout = \"5s\"",
            "kind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"",
        );
        let kept = keep_restart_settings(next, &running);
        assert_eq!(kept.server.listen, running.server.listen);
        assert_eq!(kept.server.log_format, running.server.log_format);
        assert_eq!(kept.server.metrics, running.server.metrics);
        assert_eq!(kept.store, running.store);
        assert_eq!(
            kept.server.upstream_timeout, 5_000_000_000,
            "everything else is the new file's"
        );
    }
}
