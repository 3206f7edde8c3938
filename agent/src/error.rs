//! Turning an error and its causes into one line for people to read.
//!
//! Atalaya's errors name what failed at each level (the file, the
//! collector's address, the step) and keep the lower error as their
//! source; the full story is the chain read top to bottom.

use std::error::Error;

/// The error and its causes, joined with `": "`. A cause whose text the
/// line already holds is left out, since some errors repeat their source.
pub fn describe(err: &(dyn Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {path}")]
    struct Outer {
        path: &'static str,
        #[source]
        source: Middle,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("spool /x: {source}")]
    struct Middle {
        source: std::io::Error,
    }

    #[test]
    fn causes_follow_the_error_without_repeats() {
        let err = Outer {
            path: "/x",
            source: Middle {
                source: std::io::Error::other("disk on fire"),
            },
        };
        assert_eq!(describe(&err), "reading /x: spool /x: disk on fire");
    }
}
