//! The machine's own say on diagnostic actions: the `[assist]` allow-list
//! of its configuration file, checked for every order. The collector
//! cannot widen it.

use std::path::{Path, PathBuf};

use atalaya_common::assist::Action;

use super::AssistConfig;
use super::verify::Refusal;

/// Whether `action` may run on this machine; `root` is the filesystem root
/// the agent reads (`/` on a live host), under which paths are resolved.
pub fn decide(config: &AssistConfig, action: &Action) -> Result<(), Refusal> {
    if !config.enabled {
        return Err(Refusal::NotAllowed(
            "remote assistance is disabled on this machine ([assist] enabled = false)".into(),
        ));
    }
    let name = action.name();
    if !config.allow.iter().any(|a| a == name) {
        return Err(Refusal::NotAllowed(format!(
            "{name} is not in this machine's [assist] allow list"
        )));
    }
    match action {
        Action::ServiceRestart { name } => {
            let unit = name.strip_suffix(".service").unwrap_or(name);
            if !config
                .restart_services
                .iter()
                .any(|s| s.strip_suffix(".service").unwrap_or(s) == unit)
            {
                return Err(Refusal::NotAllowed(format!(
                    "service {name} is not in this machine's [assist] restart_services"
                )));
            }
            Ok(())
        }
        Action::LogTail { path, .. } => log_path(config, Path::new(path)).map(|_| ()),
        _ => Ok(()),
    }
}

/// The file `log-tail` may read for `path`: its canonical form (symbolic
/// links and `..` resolved) must be one of `log_paths`, or lie under one
/// of them that is a directory, itself canonicalised.
pub fn log_path(config: &AssistConfig, path: &Path) -> Result<PathBuf, Refusal> {
    let refused = |why: &str| Refusal::NotAllowed(format!("log-tail of {}: {why}", path.display()));
    let real = path
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be resolved ({e})")))?;
    let allowed = config.log_paths.iter().any(|entry| {
        let Ok(entry) = entry.canonicalize() else {
            return false;
        };
        real == entry || (entry.is_dir() && real.starts_with(&entry))
    });
    if !allowed {
        return Err(refused(&format!(
            "resolves to {}, which is not in this machine's [assist] log_paths",
            real.display()
        )));
    }
    if !real.is_file() {
        return Err(refused("not a regular file"));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> AssistConfig {
        AssistConfig {
            log_paths: vec![dir.join("log"), dir.join("single.log")],
            restart_services: vec!["nginx".into()],
            ..AssistConfig::default()
        }
    }

    fn reason(r: Result<(), Refusal>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn by_default_only_read_only_actions_run() {
        let c = AssistConfig::default();
        assert!(decide(&c, &Action::TopProcesses).is_ok());
        assert!(decide(&c, &Action::ListeningSockets).is_ok());
        let restart = Action::ServiceRestart {
            name: "nginx".into(),
        };
        assert_eq!(
            reason(decide(&c, &restart)),
            "not allowed: service-restart is not in this machine's [assist] allow list"
        );
        let off = AssistConfig {
            enabled: false,
            ..AssistConfig::default()
        };
        assert!(reason(decide(&off, &Action::TopProcesses)).contains("disabled"));
    }

    #[test]
    fn only_the_named_services_are_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.allow.push("service-restart".into());
        let restart = |n: &str| Action::ServiceRestart { name: n.into() };
        assert!(decide(&c, &restart("nginx")).is_ok());
        assert!(decide(&c, &restart("nginx.service")).is_ok());
        assert_eq!(
            reason(decide(&c, &restart("sshd"))),
            "not allowed: service sshd is not in this machine's [assist] restart_services"
        );
    }

    #[test]
    fn log_paths_are_canonicalised_and_symlink_escapes_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("log/app")).unwrap();
        std::fs::write(base.join("log/app/app.log"), "x\n").unwrap();
        std::fs::write(base.join("single.log"), "x\n").unwrap();
        std::fs::write(base.join("other.log"), "x\n").unwrap();
        std::fs::write(base.join("secret"), "x\n").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), base.join("log/escape.log")).unwrap();
        std::os::unix::fs::symlink(base.join("log/app/app.log"), base.join("inside.log")).unwrap();
        let c = config(base);
        let tail = |p: PathBuf| Action::LogTail {
            path: p.display().to_string(),
            lines: 10,
        };
        assert!(decide(&c, &tail(base.join("log/app/app.log"))).is_ok());
        assert!(decide(&c, &tail(base.join("single.log"))).is_ok());
        let escape = reason(decide(&c, &tail(base.join("log/escape.log"))));
        assert!(
            escape.contains("which is not in this machine's [assist] log_paths"),
            "{escape}"
        );
        assert!(escape.contains("secret"), "{escape}");
        assert!(decide(&c, &tail(base.join("other.log"))).is_err());
        // `..` resolved by the file system, not by text.
        assert!(log_path(&c, &base.join("log/app/../../secret")).is_err());
        // A link from outside into an allowed place reads the allowed file.
        assert_eq!(
            log_path(&c, &base.join("inside.log")).unwrap(),
            base.join("log/app/app.log").canonicalize().unwrap()
        );
        assert!(
            reason(decide(&c, &tail(base.join("log/none.log")))).contains("cannot be resolved")
        );
        assert!(reason(decide(&c, &tail(base.join("log/app")))).contains("not a regular file"));
    }
}
