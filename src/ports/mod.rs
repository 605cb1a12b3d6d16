//! Host ports for workspaces: taken from the install's range, never one another workspace of
//! this install holds, and checked free on the machine right before use.

use crate::error::{Code, Error, Result};
use crate::model::PortRange;
use std::collections::BTreeSet;

/// The first port after `after` (wrapping around `range`) that is neither allocated nor in
/// use. Next-fit, not lowest-first: a port goes to another workspace only once the whole range
/// has been handed out since, because a port is a web origin and a browser keeps what one
/// workspace left there (service workers, storage) for the next. `in_use` is the probe, so
/// the choice is testable without touching the network.
pub fn pick_free(
    range: PortRange,
    allocated: &BTreeSet<u16>,
    in_use: impl Fn(u16) -> bool,
    after: Option<u16>,
) -> Result<u16> {
    let later = range.iter().filter(|p| Some(*p) > after);
    let earlier = range.iter().filter(|p| Some(*p) <= after);
    later
        .chain(earlier)
        .find(|p| !allocated.contains(p) && !in_use(*p))
        .ok_or_else(|| {
            let held = range.iter().filter(|p| allocated.contains(p)).count();
            Error::new(
                Code::PortsExhausted,
                format!(
                    "no free port in the range {range} on 127.0.0.1 ({held} held by Berth workspaces or kept back because a browser visited them there, the rest in use by other programs); widen the port range in the settings or stop what uses them"
                ),
            )
            .keyed("ports_exhausted", [("range", range.to_string())])
        })
}

/// Whether anything on this machine listens on `port` (TCP, any address).
pub fn in_use(port: u16) -> bool {
    !portpicker::is_free_tcp(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_lowest_unallocated_unused_port() {
        let range = PortRange::new(100, 104).unwrap();
        let allocated = BTreeSet::from([100, 102]);
        assert_eq!(
            pick_free(range, &allocated, |p| p == 101, None).unwrap(),
            103
        );
    }

    #[test]
    fn exhausted_range_names_the_range() {
        let range = PortRange::new(100, 102).unwrap();
        let err = pick_free(range, &BTreeSet::from([100]), |_| true, None).unwrap_err();
        assert_eq!(err.code, Code::PortsExhausted);
        assert!(
            err.message.contains("100-102") && err.message.contains("1 held"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_freed_port_comes_back_only_after_the_whole_range() {
        let range = PortRange::new(100, 103).unwrap();
        let free = BTreeSet::new();
        // 100 was handed out last and is free again: the next one is 101, then 102, ...
        assert_eq!(pick_free(range, &free, |_| false, Some(100)).unwrap(), 101);
        assert_eq!(
            pick_free(range, &free, |_| false, Some(103)).unwrap(),
            100,
            "wraps"
        );
        let taken = BTreeSet::from([101, 102, 103]);
        assert_eq!(pick_free(range, &taken, |_| false, Some(100)).unwrap(), 100);
    }

    #[test]
    fn detects_a_real_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(in_use(listener.local_addr().unwrap().port()));
    }
}
