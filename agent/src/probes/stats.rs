//! The figures of one round to one target: loss, round-trip times and
//! jitter, from the round trip of each probe in the order they were sent.

/// Loss, times and jitter of one round.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RoundStats {
    /// Probes sent.
    pub sent: u16,
    /// Probes answered.
    pub received: u16,
    /// Shortest round trip, ms.
    pub min_ms: Option<f64>,
    /// Median round trip, ms (the mean of the two middle ones for an even count).
    pub median_ms: Option<f64>,
    /// Longest round trip, ms.
    pub max_ms: Option<f64>,
    /// Mean absolute difference of consecutive round trips, ms.
    pub jitter_ms: Option<f64>,
    /// Share of the probes not answered, percent.
    pub loss_percent: f64,
}

impl RoundStats {
    /// The figures of probes whose round trips, in send order, are `rtts`
    /// (`None`: no answer in time).
    pub fn of(rtts: &[Option<f64>]) -> Self {
        let sent = u16::try_from(rtts.len()).unwrap_or(u16::MAX);
        // Jitter follows RFC 3550's idea (differences of consecutive
        // transit times) without its smoothing: the mean over the round.
        let answered: Vec<f64> = rtts.iter().flatten().copied().collect();
        let received = u16::try_from(answered.len()).unwrap_or(u16::MAX);
        let jitter_ms = (answered.len() >= 2).then(|| {
            let diffs: f64 = answered.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
            diffs / (answered.len() - 1) as f64
        });
        let mut sorted = answered;
        sorted.sort_by(f64::total_cmp);
        let median_ms = match sorted.len() {
            0 => None,
            n if n % 2 == 1 => sorted.get(n / 2).copied(),
            n => match (sorted.get(n / 2 - 1), sorted.get(n / 2)) {
                (Some(a), Some(b)) => Some((a + b) / 2.0),
                _ => None,
            },
        };
        let loss_percent = if sent == 0 {
            0.0
        } else {
            f64::from(sent - received) * 100.0 / f64::from(sent)
        };
        RoundStats {
            sent,
            received,
            min_ms: sorted.first().copied(),
            median_ms,
            max_ms: sorted.last().copied(),
            jitter_ms,
            loss_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_a_round_with_a_lost_probe() {
        let s = RoundStats::of(&[Some(10.0), None, Some(14.0), Some(11.0), Some(30.0)]);
        assert_eq!((s.sent, s.received), (5, 4));
        assert_eq!(s.loss_percent, 20.0);
        assert_eq!((s.min_ms, s.max_ms), (Some(10.0), Some(30.0)));
        // Sorted 10, 11, 14, 30: the mean of the middle two.
        assert_eq!(s.median_ms, Some(12.5));
        // |14-10| + |11-14| + |30-11| = 26 over 3 differences.
        assert_eq!(s.jitter_ms, Some(26.0 / 3.0));
    }

    #[test]
    fn odd_counts_take_the_middle_and_one_answer_has_no_jitter() {
        let s = RoundStats::of(&[Some(3.0), Some(1.0), Some(2.0)]);
        assert_eq!(s.median_ms, Some(2.0));
        assert_eq!(s.jitter_ms, Some(1.5));
        let one = RoundStats::of(&[None, Some(7.0)]);
        assert_eq!(one.median_ms, Some(7.0));
        assert_eq!(one.jitter_ms, None);
        assert_eq!(one.loss_percent, 50.0);
    }

    #[test]
    fn nothing_answered_is_full_loss_without_times() {
        let s = RoundStats::of(&[None; 5]);
        assert_eq!(s.loss_percent, 100.0);
        assert_eq!(
            (s.min_ms, s.median_ms, s.max_ms, s.jitter_ms),
            (None, None, None, None)
        );
        assert_eq!(RoundStats::of(&[]).loss_percent, 0.0);
    }
}
