use proptest::prelude::*;

use super::*;

fn sample(uptime: u32, in_octets: Counter, out_octets: Counter) -> InterfaceCounters {
    InterfaceCounters {
        if_index: 3,
        sys_uptime_ticks: uptime,
        discontinuity_ticks: Some(0),
        in_octets: Some(in_octets),
        out_octets: Some(out_octets),
        in_errors: Some(Counter::C32(10)),
        out_errors: Some(Counter::C32(0)),
        in_discards: Some(Counter::C32(4)),
        out_discards: None,
        ..InterfaceCounters::default()
    }
}

const GIG: Option<u64> = Some(1_000_000_000);

#[test]
fn hc_counters_give_bits_utilisation_and_error_rates() {
    let a = sample(1_000, Counter::Hc(1_000), Counter::Hc(0));
    let mut b = sample(7_000, Counter::Hc(1_000 + 750_000_000), Counter::Hc(125));
    b.in_errors = Some(Counter::C32(70));
    let r = interface_rates(&a, &b, 60.0, GIG).unwrap();
    assert_eq!(r.in_bits_per_second, Some(100_000_000.0));
    assert_eq!(r.in_utilisation_percent, Some(10.0));
    assert_eq!(r.out_bits_per_second, Some(1000.0 / 60.0));
    assert_eq!(r.in_errors_per_second, Some(1.0));
    assert_eq!(r.out_errors_per_second, Some(0.0));
    assert_eq!(r.in_discards_per_second, Some(0.0));
    assert_eq!(r.out_discards_per_second, None);
    assert!(r.dropped.is_empty());
}

#[test]
fn restarts_and_resets_give_no_rate() {
    let a = sample(90_000, Counter::Hc(5_000), Counter::Hc(5_000));
    let b = sample(500, Counter::Hc(10), Counter::Hc(10));
    assert_eq!(
        interface_rates(&a, &b, 60.0, GIG),
        Err(NoRate::UptimeWentBack {
            previous: 90_000,
            current: 500
        })
    );
    // Restarted 2 minutes into a 10-minute interval, up longer than before.
    let a = sample(3_000, Counter::Hc(5_000), Counter::Hc(5_000));
    let b = sample(12_000, Counter::Hc(9_000), Counter::Hc(9_000));
    assert!(matches!(
        interface_rates(&a, &b, 600.0, GIG),
        Err(NoRate::UptimeBehindClock { .. })
    ));
    let mut c = sample(7_000, Counter::Hc(9_000), Counter::Hc(9_000));
    c.discontinuity_ticks = Some(6_500);
    assert_eq!(
        interface_rates(
            &sample(1_000, Counter::Hc(1), Counter::Hc(1)),
            &c,
            60.0,
            GIG
        ),
        Err(NoRate::DiscontinuityChanged)
    );
    let d = sample(7_000, Counter::Hc(4_999), Counter::Hc(6_000));
    assert_eq!(
        interface_rates(
            &sample(1_000, Counter::Hc(5_000), Counter::Hc(1)),
            &d,
            60.0,
            GIG
        ),
        Err(NoRate::HcCounterWentBack(CounterName::InOctets))
    );
}

#[test]
fn bad_intervals_and_mismatched_interfaces_give_no_rate() {
    let a = sample(1_000, Counter::Hc(0), Counter::Hc(0));
    let mut b = sample(7_000, Counter::Hc(0), Counter::Hc(0));
    assert_eq!(interface_rates(&a, &b, 0.0, GIG), Err(NoRate::BadInterval));
    assert_eq!(
        interface_rates(&a, &b, f64::NAN, GIG),
        Err(NoRate::BadInterval)
    );
    b.if_index = 4;
    assert!(matches!(
        interface_rates(&a, &b, 60.0, GIG),
        Err(NoRate::OtherInterface {
            previous: 3,
            current: 4
        })
    ));
}

#[test]
fn a_single_32_bit_wrap_is_handled() {
    let a = sample(1_000, Counter::C32(u32::MAX - 99), Counter::C32(0));
    let b = sample(7_000, Counter::C32(650), Counter::C32(0));
    // 100 Mb/s: 60 s can carry 825 MB, well under one wrap of 4.29 GB.
    let r = interface_rates(&a, &b, 60.0, Some(100_000_000)).unwrap();
    assert_eq!(r.in_bits_per_second, Some(750.0 * 8.0 / 60.0));
    let mut c = sample(7_000, Counter::C32(0), Counter::C32(0));
    c.in_errors = Some(Counter::C32(5));
    let r = interface_rates(
        &sample(1_000, Counter::C32(0), Counter::C32(0)),
        &c,
        60.0,
        None,
    )
    .unwrap();
    assert_eq!(
        r.in_errors_per_second,
        Some((u64::from(u32::MAX) - 4) as f64 / 60.0)
    );
}

#[test]
fn a_possible_second_32_bit_wrap_drops_the_rate() {
    let a = sample(1_000, Counter::C32(100), Counter::C32(100));
    let b = sample(7_000, Counter::C32(200), Counter::C32(200));
    // 10 Gb/s over 60 s can wrap a 32-bit octet counter 17 times.
    let r = interface_rates(&a, &b, 60.0, Some(10_000_000_000)).unwrap();
    assert_eq!(r.in_bits_per_second, None);
    assert_eq!(r.out_bits_per_second, None);
    assert!(r.dropped.contains(&DroppedRate {
        counter: CounterName::InOctets,
        reason: DropReason::PossibleDoubleWrap
    }));
    // Error counters count frames, which come 512 times slower than bits.
    assert_eq!(r.in_errors_per_second, Some(0.0));
}

#[test]
fn a_rate_above_speed_is_dropped_and_reported() {
    let a = sample(1_000, Counter::Hc(0), Counter::Hc(0));
    // 9 GB in 60 s is 1.2 Gb/s on a 1 Gb/s interface.
    let b = sample(7_000, Counter::Hc(9_000_000_000), Counter::Hc(1));
    let r = interface_rates(&a, &b, 60.0, GIG).unwrap();
    assert_eq!(r.in_bits_per_second, None);
    assert_eq!(r.in_utilisation_percent, None);
    assert!(r.out_bits_per_second.is_some());
    assert_eq!(
        r.dropped,
        vec![DroppedRate {
            counter: CounterName::InOctets,
            reason: DropReason::AboveSpeed {
                bits_per_second: 1_200_000_000.0,
                speed_bps: 1_000_000_000
            }
        }]
    );
}

#[test]
fn width_changes_and_missing_counters() {
    let a = sample(1_000, Counter::C32(5), Counter::Hc(5));
    let mut b = sample(7_000, Counter::Hc(9), Counter::Hc(9));
    b.in_errors = None;
    let r = interface_rates(&a, &b, 60.0, None).unwrap();
    assert_eq!(r.in_bits_per_second, None);
    assert_eq!(r.in_errors_per_second, None);
    assert_eq!(r.in_utilisation_percent, None);
    assert_eq!(r.out_bits_per_second, Some(4.0 * 8.0 / 60.0));
    assert_eq!(
        r.dropped,
        vec![DroppedRate {
            counter: CounterName::InOctets,
            reason: DropReason::WidthChanged
        }]
    );
}

fn counter() -> impl Strategy<Value = Option<Counter>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|v| Some(Counter::Hc(v))),
        any::<u32>().prop_map(|v| Some(Counter::C32(v))),
    ]
}

fn counters() -> impl Strategy<Value = InterfaceCounters> {
    (
        any::<u32>(),
        proptest::option::of(0u32..3),
        counter(),
        counter(),
        counter(),
        counter(),
    )
        .prop_map(|(up, disc, i, o, ie, od)| InterfaceCounters {
            if_index: 1,
            sys_uptime_ticks: up,
            discontinuity_ticks: disc,
            in_octets: i,
            out_octets: o,
            in_errors: ie,
            out_discards: od,
            ..InterfaceCounters::default()
        })
}

proptest! {
    #[test]
    fn rates_are_never_negative_nor_above_110_percent(
        a in counters(),
        b in counters(),
        elapsed in prop_oneof![Just(0.0), Just(-1.0), 0.001f64..100_000.0],
        speed in proptest::option::of(0u64..100_000_000_000),
    ) {
        if let Ok(r) = interface_rates(&a, &b, elapsed, speed) {
            for bps in [r.in_bits_per_second, r.out_bits_per_second].into_iter().flatten() {
                prop_assert!(bps.is_finite() && bps >= 0.0);
                if let Some(s) = speed.filter(|s| *s > 0) {
                    prop_assert!(bps <= s as f64 * MAX_UTILISATION);
                }
            }
            for p in [r.in_utilisation_percent, r.out_utilisation_percent].into_iter().flatten() {
                prop_assert!((0.0..=110.0 + 1e-9).contains(&p));
            }
            for e in [r.in_errors_per_second, r.out_discards_per_second].into_iter().flatten() {
                prop_assert!(e.is_finite() && e >= 0.0);
            }
        }
    }
}
