//! The hardware source on the fixture trees and on the live host.

use super::*;

fn fixture(host: &str) -> Hardware {
    let mut gaps = Gaps::default();
    let root = Root::new(format!(
        "{}/tests/fixtures/{host}",
        env!("CARGO_MANIFEST_DIR")
    ));
    let hw = collect(&root, &mut gaps);
    assert!(
        gaps.0.is_empty() || host == "alpine",
        "{host}: {:?}",
        gaps.0
    );
    hw
}

#[test]
fn live_host_does_not_panic_and_counts_its_processors() {
    let mut gaps = Gaps::default();
    let hw = collect(&Root::live(), &mut gaps);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(hw.cpu.logical_cores as usize, processors);
    assert!(hw.memory.total_bytes > 0);
    if !std::path::Path::new("/sys/class/dmi/id").exists() {
        assert!(gaps.0.iter().any(|g| g.item == "dmi"), "{:?}", gaps.0);
    }
}
