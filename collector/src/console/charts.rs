//! Charts drawn on the server as SVG: pure functions from points to
//! markup, so a page with charts needs no script and no inline style.
//!
//! A chart has one or more lines over a time range; a line may carry a
//! min/max band (when its tier kept min and max). A stretch with no point
//! for longer than [`GAP_STEPS`] steps breaks the line: a gap is shown as
//! a gap, not as a straight line across it. At most [`MAX_POINTS`] points
//! of a line are drawn. The `<svg>` carries `data-points`, the number of
//! points drawn, and a `<title>` for screen readers.

use std::fmt::Write as _;

use atalaya_common::format;
use atalaya_common::model::Timestamp;
use maud::{Markup, html};

/// Most points drawn per line: more than a chart's width can show.
pub const MAX_POINTS: usize = 300;
/// Points further apart than this many steps are not joined.
pub const GAP_STEPS: i64 = 3;

/// Drawing area, in SVG units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// How the values of a chart read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0 to 100.
    Percent,
    /// Bytes per second.
    BytesPerSecond,
    /// Bits per second (network interfaces).
    BitsPerSecond,
    /// Milliseconds (answer and round-trip times).
    Milliseconds,
    /// Plain numbers.
    Number,
}

impl Unit {
    fn label(self, v: f64) -> String {
        match self {
            Unit::Percent => format!("{v:.0} %"),
            Unit::BytesPerSecond => format::rate(v),
            Unit::BitsPerSecond => bits_per_second(v),
            Unit::Milliseconds => format!("{v:.0} ms"),
            Unit::Number => {
                if v.abs() >= 100.0 || v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            }
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// What it shows (the legend).
    pub label: String,
    /// `(time ms, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
    /// `(time ms, min, max)`, oldest first; empty: no band.
    pub band: Vec<(i64, f64, f64)>,
}

/// A chart to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title (also the accessible name).
    pub title: String,
    /// How values read.
    pub unit: Unit,
    /// Start of the range, ms.
    pub from: i64,
    /// End of the range, ms.
    pub to: i64,
    /// Time between points, ms (gaps are measured in it).
    pub step_ms: i64,
    /// The lines, the first drawn in the accent colour.
    pub lines: Vec<Line>,
}

/// Maps times and values to SVG coordinates.
#[derive(Debug, Clone, Copy)]
struct Scale {
    from: i64,
    to: i64,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn x(&self, t: i64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        let f = ((t - self.from) as f64 / span).clamp(0.0, 1.0);
        LEFT + f * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        let f = ((v - self.lo) / span).clamp(0.0, 1.0);
        TOP + (1.0 - f) * (HEIGHT - TOP - BOTTOM)
    }
}

/// A rate in bits per second, in the unit that keeps it short (`12.5 Mb/s`).
pub fn bits_per_second(b: f64) -> String {
    match b.abs() {
        a if a >= 1e9 => format!("{:.1} Gb/s", b / 1e9),
        a if a >= 1e6 => format!("{:.1} Mb/s", b / 1e6),
        a if a >= 1e3 => format!("{:.1} kb/s", b / 1e3),
        _ => format!("{b:.0} b/s"),
    }
}

/// A round number at or above `v` (1, 2, 2.5 or 5 times a power of ten).
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// The value range of the chart: from zero (or below, for negative
/// values) to a round number above the highest; percentages 0–100.
fn value_range(chart: &Chart) -> (f64, f64) {
    let values = chart.lines.iter().flat_map(|l| {
        l.points
            .iter()
            .map(|p| p.1)
            .chain(l.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if chart.unit == Unit::Percent && hi <= 100.0 && lo >= 0.0 {
        return (0.0, 100.0);
    }
    let hi = nice_ceil(hi);
    let lo = if lo < 0.0 { -nice_ceil(-lo) } else { 0.0 };
    (lo, hi)
}

/// Every `n`-th point when there are more than [`MAX_POINTS`], keeping
/// the last.
fn thin<T: Copy>(points: &[T]) -> Vec<T> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let n = points.len().div_ceil(MAX_POINTS);
    let mut out: Vec<T> = points.iter().step_by(n).copied().collect();
    if !(points.len() - 1).is_multiple_of(n)
        && let Some(last) = points.last()
    {
        if out.len() >= MAX_POINTS {
            out.pop();
        }
        out.push(*last);
    }
    out
}

/// Splits points where they are more than `gap` apart.
fn runs<T: Copy>(points: &[T], time: impl Fn(&T) -> i64, gap: i64) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut prev: Option<i64> = None;
    for p in points {
        let t = time(p);
        match (prev, out.last_mut()) {
            (Some(pt), Some(run)) if t - pt <= gap => run.push(*p),
            _ => out.push(vec![*p]),
        }
        prev = Some(t);
    }
    out
}

fn num(out: &mut String, v: f64) {
    let _ = write!(out, "{:.1}", (v * 10.0).round() / 10.0);
}

/// The SVG path of a line: one `M` per run, an `L` per further point; a
/// run of one point is a short tick so it still shows.
fn line_path(points: &[(i64, f64)], scale: &Scale, gap: i64) -> String {
    let mut d = String::with_capacity(points.len() * 12);
    for run in runs(points, |p| p.0, gap) {
        for (i, (t, v)) in run.iter().enumerate() {
            d.push(if i == 0 { 'M' } else { 'L' });
            num(&mut d, scale.x(*t));
            d.push(' ');
            num(&mut d, scale.y(*v));
        }
        if run.len() == 1 {
            d.push_str("h1");
        }
    }
    d
}

/// The SVG path of a band: per run, along the maxima and back along the
/// minima.
fn band_path(band: &[(i64, f64, f64)], scale: &Scale, gap: i64) -> String {
    let mut d = String::with_capacity(band.len() * 24);
    for run in runs(band, |b| b.0, gap) {
        for (i, (t, _, max)) in run.iter().enumerate() {
            d.push(if i == 0 { 'M' } else { 'L' });
            num(&mut d, scale.x(*t));
            d.push(' ');
            num(&mut d, scale.y(*max));
        }
        for (t, min, _) in run.iter().rev() {
            d.push('L');
            num(&mut d, scale.x(*t));
            d.push(' ');
            num(&mut d, scale.y(*min));
        }
        d.push('Z');
    }
    d
}

/// A time tick's label: hours for a range of two days or less, else the
/// day, else (beyond 90 days) the month.
fn time_label(t: i64, span: i64) -> String {
    let text = Timestamp(t).to_rfc3339().unwrap_or_default();
    let part = if span <= 2 * 86_400_000 {
        text.get(11..16)
    } else if span <= 90 * 86_400_000 {
        text.get(5..10)
    } else {
        text.get(0..7)
    };
    part.unwrap_or("").to_owned()
}

/// The chart as an `<svg class="chart">`; "no data" when no line has a
/// point.
pub fn render(chart: &Chart) -> Markup {
    let (lo, hi) = value_range(chart);
    let scale = Scale {
        from: chart.from,
        to: chart.to.max(chart.from + 1),
        lo,
        hi,
    };
    let gap = chart.step_ms.max(1).saturating_mul(GAP_STEPS);
    let lines: Vec<(String, Option<String>, usize)> = chart
        .lines
        .iter()
        .map(|l| {
            // Thinned points are further apart: so is a gap.
            let stride = |n: usize| i64::try_from(n.div_ceil(MAX_POINTS).max(1)).unwrap_or(1);
            let points = thin(&l.points);
            let band = thin(&l.band);
            let band_d = (!band.is_empty())
                .then(|| band_path(&band, &scale, gap.saturating_mul(stride(l.band.len()))));
            let line_d = line_path(&points, &scale, gap.saturating_mul(stride(l.points.len())));
            (line_d, band_d, points.len())
        })
        .collect();
    let drawn: usize = lines.iter().map(|l| l.2).sum();
    let span = scale.to - scale.from;
    let x_ticks: Vec<i64> = (0..=4).map(|i| scale.from + span * i / 4).collect();
    let y_ticks = [lo, lo + (hi - lo) / 2.0, hi];
    let bottom = HEIGHT - BOTTOM;
    let labels: Vec<&str> = chart.lines.iter().map(|l| l.label.as_str()).collect();
    html! {
        figure.chart {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                data-points=(drawn) xmlns="http://www.w3.org/2000/svg" {
                title { (chart.title) }
                line.axis x1=(LEFT) y1=(bottom) x2=(WIDTH - RIGHT) y2=(bottom) {}
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(bottom) {}
                @for v in y_ticks {
                    @let y = (scale.y(v) * 10.0).round() / 10.0;
                    line.grid x1=(LEFT) y1=(y) x2=(WIDTH - RIGHT) y2=(y) {}
                    text.ylabel x=(LEFT - 4.0) y=(y + 3.0) { (chart.unit.label(v)) }
                }
                @for (i, t) in x_ticks.iter().enumerate() {
                    @let x = (scale.x(*t) * 10.0).round() / 10.0;
                    // The end labels stay inside the drawing.
                    @let class = match i { 0 => "xlabel start", 4 => "xlabel end", _ => "xlabel" };
                    text class=(class) x=(x) y=(HEIGHT - 6.0) { (time_label(*t, span)) }
                }
                @for (i, (d, band, _)) in lines.iter().enumerate() {
                    @if let Some(b) = band {
                        path class={ "band s" (i) } d=(b) {}
                    }
                    path class={ "line s" (i) } d=(d) {}
                }
                @if drawn == 0 {
                    text.empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) { "no data in this range" }
                }
            }
            figcaption {
                (chart.title)
                @if labels.iter().any(|l| !l.is_empty()) {
                    @for (i, l) in labels.iter().enumerate() {
                        " " span class={ "key s" (i) } { (l) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: Vec<(i64, f64)>, unit: Unit) -> Chart {
        Chart {
            title: "CPU".into(),
            unit,
            from: 0,
            to: 1_000,
            step_ms: 10,
            lines: vec![Line {
                label: "cpu".into(),
                points,
                band: Vec::new(),
            }],
        }
    }

    fn data_points(m: &Markup) -> usize {
        let s = m.0.as_str();
        let at = s.find("data-points=\"").unwrap() + 13;
        s[at..at + s[at..].find('"').unwrap()].parse().unwrap()
    }

    fn line_d(m: &Markup) -> String {
        let s = m.0.as_str();
        let at = s.find("class=\"line s0\" d=\"").unwrap() + 19;
        s[at..at + s[at..].find('"').unwrap()].to_owned()
    }

    #[test]
    fn times_and_values_scale_to_the_plot_area() {
        let s = Scale {
            from: 1_000,
            to: 2_000,
            lo: 0.0,
            hi: 100.0,
        };
        assert_eq!(s.x(1_000), LEFT);
        assert_eq!(s.x(2_000), WIDTH - RIGHT);
        assert_eq!(s.x(1_500), LEFT + (WIDTH - LEFT - RIGHT) / 2.0);
        assert_eq!(s.y(0.0), HEIGHT - BOTTOM);
        assert_eq!(s.y(100.0), TOP);
        // Out of range values stay inside the plot.
        assert_eq!(s.y(250.0), TOP);
        assert_eq!(s.x(-5), LEFT);
    }

    #[test]
    fn percentages_run_to_100_and_others_to_a_round_number() {
        let c = chart(vec![(0, 3.0), (10, 42.0)], Unit::Percent);
        assert_eq!(value_range(&c), (0.0, 100.0));
        let c = chart(vec![(0, 3.0), (10, 420.0)], Unit::Number);
        assert_eq!(value_range(&c), (0.0, 500.0));
        let c = chart(vec![(0, -3.0), (10, 1_800.0)], Unit::BytesPerSecond);
        assert_eq!(value_range(&c), (-5.0, 2_000.0));
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(7.0), 10.0);
        assert_eq!(nice_ceil(2.2), 2.5);
    }

    #[test]
    fn an_empty_series_draws_axes_and_says_so() {
        let m = render(&chart(Vec::new(), Unit::Percent));
        assert_eq!(data_points(&m), 0);
        assert!(m.0.contains("no data in this range"));
        assert!(m.0.contains("<title>CPU</title>"));
        assert_eq!(line_d(&m), "");
    }

    #[test]
    fn points_become_one_path_with_their_count() {
        let m = render(&chart(
            vec![(0, 0.0), (10, 50.0), (20, 100.0)],
            Unit::Percent,
        ));
        assert_eq!(data_points(&m), 3);
        let d = line_d(&m);
        assert_eq!(d.matches('M').count(), 1);
        assert_eq!(d.matches('L').count(), 2);
        assert!(d.starts_with("M62.0 148.0L"), "{d}");
        assert!(!m.0.contains("no data"));
    }

    #[test]
    fn a_gap_breaks_the_line() {
        // Step 10 ms: 20 ms apart is joined, 500 ms apart is a gap.
        let m = render(&chart(
            vec![(0, 1.0), (20, 2.0), (520, 3.0), (530, 4.0)],
            Unit::Number,
        ));
        let d = line_d(&m);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 2, "{d}");
        assert_eq!(data_points(&m), 4);
    }

    #[test]
    fn a_lone_point_still_shows() {
        let m = render(&chart(vec![(0, 1.0), (500, 2.0)], Unit::Number));
        assert_eq!(line_d(&m).matches("h1").count(), 2);
    }

    #[test]
    fn long_series_are_capped() {
        let points: Vec<(i64, f64)> = (0..1_000).map(|i| (i, i as f64)).collect();
        let mut c = chart(points, Unit::Number);
        c.step_ms = 1;
        c.to = 999;
        let m = render(&c);
        let n = data_points(&m);
        assert!(n <= MAX_POINTS && n > MAX_POINTS / 2, "{n}");
        let d = line_d(&m);
        // Thinning is no gap: one run.
        assert_eq!(d.matches('M').count(), 1, "{d}");
        // The last point is kept: the line reaches the right edge.
        assert!(d.contains(&format!("L{:.1} ", WIDTH - RIGHT)), "{d}");
    }

    #[test]
    fn a_band_goes_out_along_the_maxima_and_back_along_the_minima() {
        let mut c = chart(vec![(0, 5.0), (10, 6.0)], Unit::Percent);
        c.lines[0].band = vec![(0, 0.0, 10.0), (10, 0.0, 20.0)];
        let m = render(&c);
        let s = m.0.as_str();
        let at = s.find("class=\"band s0\" d=\"").unwrap() + 19;
        let d = &s[at..at + s[at..].find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 1);
        assert!(d.ends_with('Z'));
        assert_eq!(d.matches('L').count(), 3);
    }

    #[test]
    fn titles_and_labels_are_escaped() {
        let mut c = chart(vec![(0, 1.0)], Unit::Number);
        c.title = "<script>alert(1)</script>".into();
        let m = render(&c);
        assert!(!m.0.contains("<script>"));
        assert!(m.0.contains("&lt;script&gt;"));
    }

    #[test]
    fn time_labels_follow_the_span() {
        let t = Timestamp::parse_rfc3339("2026-11-28T10:05:00Z").unwrap().0;
        assert_eq!(time_label(t, 3_600_000), "10:05");
        assert_eq!(time_label(t, 7 * 86_400_000), "11-28");
        assert_eq!(time_label(t, 365 * 86_400_000), "2026-11");
    }
}
