//! ARP requests for paths that are down (Linux; needs CAP_NET_RAW, a no-op without it).
//!
//! When a cable is pulled for more than a few seconds, the kernel gives up on the peer's
//! link-layer address and, once the cable is back, asks again only at its next ARP
//! retransmission: up to `net.ipv4.neigh.IFACE.retrans_time_ms` (1 s by default) of silence
//! after the link returns, whatever the transport does (docs/DRILLS.md, D1). So each
//! reconnection attempt on a path that is down first sends an ARP request of its own for
//! the peer's address; the peer's reply completes the kernel's pending resolution at once.
//! That is one broadcast of 28 bytes per attempt (at most five a second per path that is
//! down), and none while the path is up.

use std::net::Ipv4Addr;

/// Sends an ARP request for `peer` ("IPv4:port") out of the interface whose subnet holds
/// it. Does nothing for other addresses, on other systems, or without CAP_NET_RAW (said
/// once in the log).
pub(crate) fn probe(peer: &str) {
    let Ok(std::net::SocketAddr::V4(addr)) = peer.parse() else {
        return;
    };
    let ip = *addr.ip();
    if ip.is_loopback() || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        return;
    }
    imp::probe(ip);
}

/// The ARP request (RFC 826) asking who has `target`, from `sender_mac` / `sender_ip`.
fn request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    p[4] = 6; // hardware address length
    p[5] = 4; // protocol address length
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // operation: request
    p[8..14].copy_from_slice(&sender_mac);
    p[14..18].copy_from_slice(&sender_ip.octets());
    // p[18..24]: target hardware address, unknown (zero)
    p[24..28].copy_from_slice(&target.octets());
    p
}

/// An IPv4 address of a local interface that can carry ARP.
#[derive(Debug, Clone, PartialEq)]
struct Link {
    ifindex: i32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    mask: Ipv4Addr,
}

/// The link whose subnet holds `peer` (and which is not `peer` itself).
fn link_for(links: &[Link], peer: Ipv4Addr) -> Option<&Link> {
    let net = |a: Ipv4Addr, m: Ipv4Addr| u32::from(a) & u32::from(m);
    links
        .iter()
        .find(|l| l.ip != peer && net(l.ip, l.mask) == net(peer, l.mask) && l.mac != [0; 6])
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::ffi::CStr;
    use std::net::Ipv4Addr;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::OnceLock;

    use super::{Link, link_for, request};

    /// The packet socket, opened on first use; `None` without CAP_NET_RAW.
    static SOCKET: OnceLock<Option<OwnedFd>> = OnceLock::new();

    fn socket() -> Option<&'static OwnedFd> {
        SOCKET
            .get_or_init(|| {
                // Protocol 0: this socket only sends; it receives nothing.
                // SAFETY: plain system call; the result is checked before use.
                let fd = unsafe {
                    libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                        0,
                    )
                };
                if fd < 0 {
                    tracing::info!(
                        error = %std::io::Error::last_os_error(),
                        "ARP requests for down paths are off (they need CAP_NET_RAW); a path that comes back may wait up to net.ipv4.neigh.IFACE.retrans_time_ms for the kernel's own"
                    );
                    return None;
                }
                // SAFETY: `fd` is a new descriptor that nothing else owns.
                Some(unsafe { OwnedFd::from_raw_fd(fd) })
            })
            .as_ref()
    }

    pub(super) fn probe(peer: Ipv4Addr) {
        let Some(sock) = socket() else {
            return;
        };
        let links = links();
        let Some(link) = link_for(&links, peer) else {
            return;
        };
        let packet = request(link.mac, link.ip, peer);
        // SAFETY: an all-zero sockaddr_ll is a valid value; the fields are set below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = link.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: `packet` and `to` are live for the call and their lengths are passed.
        let sent = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            // The interface may be down (the cable is out): that is why we ask.
            tracing::trace!(error = %std::io::Error::last_os_error(), %peer, "ARP request not sent");
        }
    }

    /// This network namespace's IPv4 addresses, with the index and hardware address of
    /// their interface.
    fn links() -> Vec<Link> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs fills `head` with a list that is freed below.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Vec::new();
        }
        let mut hw: HashMap<String, (i32, [u8; 6])> = HashMap::new();
        let mut v4: Vec<(String, Ipv4Addr, Ipv4Addr)> = Vec::new();
        let mut cur = head;
        while !cur.is_null() {
            // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
            let ifa = unsafe { &*cur };
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            // SAFETY: a non-null ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: a non-null ifa_addr points to a sockaddr; its family says which.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_PACKET {
                // SAFETY: an AF_PACKET address in getifaddrs' list is a sockaddr_ll.
                let ll = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_ll>() };
                if ll.sll_halen == 6 {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(&ll.sll_addr[..6]);
                    hw.insert(name, (ll.sll_ifindex, mac));
                }
            } else if family == libc::AF_INET && !ifa.ifa_netmask.is_null() {
                // SAFETY: AF_INET addresses and their netmasks are sockaddr_in.
                let (a, m) = unsafe {
                    (
                        &*ifa.ifa_addr.cast::<libc::sockaddr_in>(),
                        &*ifa.ifa_netmask.cast::<libc::sockaddr_in>(),
                    )
                };
                v4.push((
                    name,
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    Ipv4Addr::from(u32::from_be(m.sin_addr.s_addr)),
                ));
            }
        }
        // SAFETY: `head` came from getifaddrs and nothing refers to the list any more.
        unsafe { libc::freeifaddrs(head) };
        v4.into_iter()
            .filter_map(|(name, ip, mask)| {
                let (ifindex, mac) = *hw.get(&name)?;
                Some(Link {
                    ifindex,
                    mac,
                    ip,
                    mask,
                })
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        /// The interface list is readable and every IPv4 address of an interface with a
        /// hardware address has an index (loopback has neither hardware address nor ARP).
        #[test]
        fn local_links_have_an_index() {
            for l in super::links() {
                assert!(l.ifindex > 0, "{l:?}");
                assert!(!l.ip.is_unspecified(), "{l:?}");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn probe(_peer: std::net::Ipv4Addr) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request has RFC 826's layout: Ethernet / IPv4, lengths 6 and 4, operation 1,
    /// the sender's addresses, an unknown target hardware address, the target's IP.
    #[test]
    fn request_layout() {
        let p = request(
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(10, 101, 0, 2),
            Ipv4Addr::new(10, 101, 0, 1),
        );
        assert_eq!(&p[0..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&p[14..18], &[10, 101, 0, 2]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[10, 101, 0, 1]);
    }

    /// The probe leaves from the interface whose subnet holds the peer, never from one
    /// without a hardware address, and never asks for one of our own addresses.
    #[test]
    fn the_link_is_chosen_by_subnet() {
        let mask = Ipv4Addr::new(255, 255, 255, 0);
        let links = vec![
            Link {
                ifindex: 2,
                mac: [2, 0, 0, 0, 0, 1],
                ip: Ipv4Addr::new(10, 101, 0, 2),
                mask,
            },
            Link {
                ifindex: 3,
                mac: [2, 0, 0, 0, 0, 2],
                ip: Ipv4Addr::new(10, 102, 0, 2),
                mask,
            },
            Link {
                ifindex: 4,
                mac: [0; 6],
                ip: Ipv4Addr::new(10, 103, 0, 2),
                mask,
            },
        ];
        let pick = |ip| link_for(&links, ip).map(|l| l.ifindex);
        assert_eq!(pick(Ipv4Addr::new(10, 101, 0, 1)), Some(2));
        assert_eq!(pick(Ipv4Addr::new(10, 102, 0, 3)), Some(3));
        assert_eq!(pick(Ipv4Addr::new(10, 103, 0, 1)), None);
        assert_eq!(pick(Ipv4Addr::new(10, 101, 0, 2)), None);
        assert_eq!(pick(Ipv4Addr::new(192, 168, 0, 1)), None);
    }
}
