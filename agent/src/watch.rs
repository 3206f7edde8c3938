//! File watching: the package database changed, so take the inventory now
//! rather than at the next period (an installed package shows up within
//! seconds).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::root::Root;

/// Package database files and the directories they live in. Package
/// managers replace these files by rename, so the directory is watched.
const PACKAGE_DATABASES: &[(&str, &str)] = &[
    ("/var/lib/dpkg", "status"),
    ("/var/lib/rpm", "rpmdb.sqlite"),
    ("/usr/lib/sysimage/rpm", "rpmdb.sqlite"),
    ("/lib/apk/db", "installed"),
    ("/var/lib/pacman/local", ""),
];

/// Watches the package databases under `root`; a message arrives on the
/// returned channel after each burst of changes has settled for `settle`.
/// The watcher stops when the returned guard is dropped.
pub fn package_databases(
    root: &Root,
    settle: Duration,
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let files: Vec<(PathBuf, &'static str)> = PACKAGE_DATABASES
        .iter()
        .map(|(dir, file)| (root.path(dir), *file))
        .filter(|(dir, _)| dir.is_dir())
        .collect();
    let wanted = files.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            wanted.iter().any(|(dir, file)| {
                p.starts_with(dir) && (file.is_empty() || p.file_name().is_some_and(|n| n == *file))
            })
        });
        if relevant {
            let _ = raw_tx.send(());
        }
    })?;
    for (dir, file) in &files {
        let mode = if file.is_empty() {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(dir, mode)?;
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Debounce: dpkg writes status several times per operation.
            loop {
                match tokio::time::timeout(settle, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    Ok((watcher, rx))
}

/// Watches one directory (not its subdirectories); a message arrives on
/// the returned channel when something in it changed. Bursts fold into
/// one waiting message. The watcher stops when the guard is dropped.
pub fn directory(dir: &Path) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let (tx, rx) = mpsc::channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            // Full means a wake-up is already waiting.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok((watcher, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rewritten_dpkg_status_is_noticed_once_per_burst() {
        let dir = tempfile::tempdir().unwrap();
        let dpkg = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&dpkg).unwrap();
        std::fs::write(dpkg.join("status"), "").unwrap();
        let root = Root::new(dir.path());
        let (_watcher, mut changes) = package_databases(&root, Duration::from_millis(100)).unwrap();
        // dpkg writes status-new and renames it over status, several times.
        for i in 0..3 {
            std::fs::write(dpkg.join("status-new"), format!("Package: p{i}\n")).unwrap();
            std::fs::rename(dpkg.join("status-new"), dpkg.join("status")).unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await;
        assert_eq!(got.unwrap(), Some(()));
        // The burst was one change; an unrelated file is no change at all.
        std::fs::write(dpkg.join("lock"), "").unwrap();
        let more = tokio::time::timeout(Duration::from_millis(400), changes.recv()).await;
        assert!(more.is_err(), "unexpected second notification");
    }
}
