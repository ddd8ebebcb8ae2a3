//! Address judgement: an address is acceptable only if it is globally reachable, judged
//! against the IANA special-purpose registries of both families, with every IPv4-in-IPv6
//! form judged by its embedded IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Reason;

/// Judge one address: `Ok` only for a globally reachable unicast address.
pub fn judge_ip(ip: IpAddr) -> Result<(), Reason> {
    match ip {
        IpAddr::V4(v4) => judge_ipv4(v4),
        IpAddr::V6(v6) => judge_ipv6(v6),
    }
}

/// Whether `ip` lies in `net/len`.
fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

const fn v6(segments: [u16; 8]) -> Ipv6Addr {
    Ipv6Addr::new(
        segments[0],
        segments[1],
        segments[2],
        segments[3],
        segments[4],
        segments[5],
        segments[6],
        segments[7],
    )
}

/// Metadata endpoints of the large clouds, checked before the ranges that contain them so
/// the reason says what they are.
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, ...
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: [Ipv6Addr; 1] = [v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254])];

/// Judge an IPv4 address.
pub fn judge_ipv4(ip: Ipv4Addr) -> Result<(), Reason> {
    const RANGES: &[([u8; 4], u32, Reason)] = &[
        ([0, 0, 0, 0], 32, Reason::UnspecifiedAddress),
        ([255, 255, 255, 255], 32, Reason::BroadcastAddress),
        ([0, 0, 0, 0], 8, Reason::ReservedAddress),
        ([127, 0, 0, 0], 8, Reason::LoopbackAddress),
        ([10, 0, 0, 0], 8, Reason::PrivateAddress),
        ([172, 16, 0, 0], 12, Reason::PrivateAddress),
        ([192, 168, 0, 0], 16, Reason::PrivateAddress),
        ([100, 64, 0, 0], 10, Reason::SharedAddress),
        ([169, 254, 0, 0], 16, Reason::LinkLocalAddress),
        ([192, 0, 0, 0], 24, Reason::ReservedAddress),
        ([192, 0, 2, 0], 24, Reason::DocumentationAddress),
        ([198, 51, 100, 0], 24, Reason::DocumentationAddress),
        ([203, 0, 113, 0], 24, Reason::DocumentationAddress),
        ([198, 18, 0, 0], 15, Reason::BenchmarkingAddress),
        ([192, 88, 99, 0], 24, Reason::ReservedAddress),
        ([224, 0, 0, 0], 4, Reason::MulticastAddress),
        ([240, 0, 0, 0], 4, Reason::ReservedAddress),
    ];
    if METADATA_V4.contains(&ip) {
        return Err(Reason::MetadataAddress);
    }
    match RANGES.iter().find(|(net, len, _)| in_v4(ip, *net, *len)) {
        Some((_, _, reason)) => Err(*reason),
        None => Ok(()),
    }
}

/// The IPv4 address in the last 32 bits.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    Ipv4Addr::from(u128::from(ip) as u32)
}

/// Judge an IPv6 address, including every form that embeds an IPv4 address.
pub fn judge_ipv6(ip: Ipv6Addr) -> Result<(), Reason> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Err(Reason::UnspecifiedAddress);
    }
    if ip.is_loopback() {
        return Err(Reason::LoopbackAddress);
    }
    if METADATA_V6.contains(&ip) {
        return Err(Reason::MetadataAddress);
    }
    // IPv4-mapped ::ffff:a.b.c.d: a dual-stack socket connects to the IPv4 address.
    if bits >> 32 == 0xffff {
        return judge_ipv4(low_v4(ip));
    }
    // IPv4-compatible ::a.b.c.d (deprecated) and IPv4-translated ::ffff:0:a.b.c.d: judge
    // the embedded address for a precise reason, refuse the form anyway.
    if bits >> 32 == 0 || bits >> 32 == 0xffff_0000 {
        judge_ipv4(low_v4(ip))?;
        return Err(Reason::ReservedAddress);
    }
    // NAT64 well-known prefix: the gateway connects to the embedded address.
    if in_v6(ip, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96) {
        return judge_ipv4(low_v4(ip));
    }
    // Local-use NAT64 prefix: translated inside one network, never global.
    if in_v6(ip, v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48) {
        return Err(Reason::PrivateAddress);
    }
    // 6to4: the relay reaches the IPv4 address in bits 16..48.
    if in_v6(ip, v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16) {
        return judge_ipv4(Ipv4Addr::from((bits >> 80) as u32));
    }
    // Teredo: server in bits 32..64, client obfuscated (inverted) in the last 32 bits.
    if in_v6(ip, v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32) {
        judge_ipv4(Ipv4Addr::from((bits >> 64) as u32))?;
        judge_ipv4(Ipv4Addr::from(!(bits as u32)))?;
        return Err(Reason::ReservedAddress);
    }
    const RANGES: &[(Ipv6Addr, u32, Reason)] = &[
        (
            v6([0x100, 0, 0, 0, 0, 0, 0, 0]),
            64,
            Reason::ReservedAddress,
        ),
        (
            v6([0x100, 0, 0, 1, 0, 0, 0, 0]),
            64,
            Reason::ReservedAddress,
        ),
        (
            v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]),
            32,
            Reason::DocumentationAddress,
        ),
        (
            v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]),
            20,
            Reason::DocumentationAddress,
        ),
        (
            v6([0x2001, 0, 0, 0, 0, 0, 0, 0]),
            23,
            Reason::ReservedAddress,
        ),
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, Reason::PrivateAddress),
        (
            v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]),
            10,
            Reason::LinkLocalAddress,
        ),
        (
            v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]),
            10,
            Reason::PrivateAddress,
        ),
        (
            v6([0xff00, 0, 0, 0, 0, 0, 0, 0]),
            8,
            Reason::MulticastAddress,
        ),
        (
            v6([0x5f00, 0, 0, 0, 0, 0, 0, 0]),
            16,
            Reason::ReservedAddress,
        ),
    ];
    if let Some((_, _, reason)) = RANGES.iter().find(|(net, len, _)| in_v6(ip, *net, *len)) {
        return Err(*reason);
    }
    // Only global unicast space is allocated for the Internet.
    if !in_v6(ip, v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3) {
        return Err(Reason::ReservedAddress);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(s: &str) -> Result<(), Reason> {
        judge_ip(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "52.94.236.248",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
        ] {
            assert_eq!(judge(ip), Ok(()), "{ip}");
        }
    }

    #[test]
    fn special_addresses_are_refused_with_their_reason() {
        use Reason::*;
        for (ip, reason) in [
            ("127.0.0.1", LoopbackAddress),
            ("127.255.255.254", LoopbackAddress),
            ("10.1.2.3", PrivateAddress),
            ("172.31.255.255", PrivateAddress),
            ("192.168.0.1", PrivateAddress),
            ("100.64.0.1", SharedAddress),
            ("100.100.100.200", MetadataAddress),
            ("169.254.169.254", MetadataAddress),
            ("169.254.170.2", MetadataAddress),
            ("169.254.0.1", LinkLocalAddress),
            ("0.0.0.0", UnspecifiedAddress),
            ("0.1.2.3", ReservedAddress),
            ("255.255.255.255", BroadcastAddress),
            ("224.0.0.1", MulticastAddress),
            ("239.255.255.250", MulticastAddress),
            ("192.0.2.1", DocumentationAddress),
            ("198.51.100.7", DocumentationAddress),
            ("203.0.113.9", DocumentationAddress),
            ("198.18.0.1", BenchmarkingAddress),
            ("198.19.255.255", BenchmarkingAddress),
            ("240.0.0.1", ReservedAddress),
            ("192.0.0.8", ReservedAddress),
            ("192.88.99.1", ReservedAddress),
            ("::", UnspecifiedAddress),
            ("::1", LoopbackAddress),
            ("fd00:ec2::254", MetadataAddress),
            ("fc00::1", PrivateAddress),
            ("fdff::1", PrivateAddress),
            ("fe80::1", LinkLocalAddress),
            ("febf::1", LinkLocalAddress),
            ("fec0::1", PrivateAddress),
            ("ff02::1", MulticastAddress),
            ("::ffff:127.0.0.1", LoopbackAddress),
            ("::ffff:169.254.169.254", MetadataAddress),
            ("::ffff:10.0.0.1", PrivateAddress),
            ("::127.0.0.1", LoopbackAddress),
            ("::8.8.8.8", ReservedAddress),
            ("::ffff:0:127.0.0.1", LoopbackAddress),
            ("64:ff9b::7f00:1", LoopbackAddress),
            ("64:ff9b::a9fe:a9fe", MetadataAddress),
            ("64:ff9b:1::808:808", PrivateAddress),
            ("2002:7f00:1::", LoopbackAddress),
            ("2002:a9fe:a9fe::1", MetadataAddress),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", DocumentationAddress), // RFC 4380 example, client 192.0.2.45
            ("2001:0:808:808::f7f7:f7f7", ReservedAddress),
            ("2001:0:7f00:1::", LoopbackAddress),
            ("2001:0:808:808::80ff:fffe", LoopbackAddress),
            ("100::1", ReservedAddress),
            ("2001:db8::1", DocumentationAddress),
            ("3fff::1", DocumentationAddress),
            ("2001:10::1", ReservedAddress),
            ("5f00::1", ReservedAddress),
            ("4000::1", ReservedAddress),
            ("1234::1", ReservedAddress),
        ] {
            assert_eq!(judge(ip), Err(reason), "{ip}");
        }
    }
}
