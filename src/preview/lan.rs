//! The addresses a colleague's phone or laptop can reach this machine at: IPv4 addresses of
//! real interfaces, not loopback and not the bridges Docker (or Berth's own previews) make.

use std::net::IpAddr;

/// Interfaces that are never the LAN: Docker's bridges and the veth ends of containers.
pub fn is_virtual(interface: &str) -> bool {
    interface == "docker0"
        || interface.starts_with("br-")
        || interface.starts_with("veth")
        || interface.starts_with("cni")
        || interface.starts_with("flannel")
}

/// This machine's LAN addresses, in a stable order.
pub fn addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && !is_virtual(&i.name))
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4())
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_bridges_are_not_the_lan() {
        assert!(is_virtual("docker0"));
        assert!(is_virtual("br-0123abcd"));
        assert!(is_virtual("veth12ab"));
        assert!(!is_virtual("eth0"));
        assert!(!is_virtual("wlp2s0"));
    }

    #[test]
    fn no_loopback_address_is_offered() {
        assert!(addresses().iter().all(|ip| !ip.is_loopback()));
    }
}
