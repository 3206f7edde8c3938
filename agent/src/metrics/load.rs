//! Load averages from `/proc/loadavg`, which also counts the scheduling
//! entities (threads) runnable and alive.

use atalaya_common::model::LoadAverage;

/// What `/proc/loadavg` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The three averages.
    pub average: LoadAverage,
    /// Threads runnable right now.
    pub runnable: u32,
    /// Threads alive.
    pub entities: u32,
}

/// Parses `0.52 0.58 0.59 2/412 23456`.
pub fn parse(text: &str) -> Option<Load> {
    let mut words = text.split_ascii_whitespace();
    let one = words.next()?.parse().ok()?;
    let five = words.next()?.parse().ok()?;
    let fifteen = words.next()?.parse().ok()?;
    let (runnable, entities) = words.next()?.split_once('/')?;
    Some(Load {
        average: LoadAverage { one, five, fifteen },
        runnable: runnable.parse().ok()?,
        entities: entities.parse().ok()?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn averages_and_counts() {
        let l = parse("0.52 0.58 1.59 3/412 23456\n").unwrap();
        assert_eq!(l.average.one, 0.52);
        assert_eq!(l.average.five, 0.58);
        assert_eq!(l.average.fifteen, 1.59);
        assert_eq!((l.runnable, l.entities), (3, 412));
        assert_eq!(parse("0.52 0.58"), None);
        assert_eq!(parse("0.52 0.58 0.59 x 1"), None);
    }
}
