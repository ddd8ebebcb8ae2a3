//! Arbitrary bytes as a URL string and as addresses: no panics, and whatever the guard
//! accepts is consistent (an accepted IP literal is a public address, every address
//! `check_addresses` returns was judged public and carries the target's port).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use urlguard::{judge_ip, AllowEntry, Guard, Host, Policy};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut policy = Policy {
        allow_http: control & 1 != 0,
        ..Policy::default()
    };
    if control & 2 != 0 {
        policy.allowed_ports.push(8080);
    }
    let _ = AllowEntry::parse(&text);
    let guard = Guard::new(policy);
    if let Ok(target) = guard.check_url(&text) {
        if let Host::Ip(ip) = target.host() {
            assert!(judge_ip(*ip).is_ok(), "accepted a non-public literal {ip}");
        }
        let mut addresses = Vec::new();
        for chunk in rest.chunks(16).take(4) {
            let addr = match chunk.len() {
                16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(chunk).unwrap())),
                n if n >= 4 => IpAddr::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])),
                _ => continue,
            };
            addresses.push(addr);
        }
        if let Ok(sockets) = guard.check_addresses(&target, &addresses) {
            for s in sockets {
                assert_eq!(s.port(), target.port());
                assert!(judge_ip(s.ip()).is_ok());
            }
        }
    }
    for chunk in rest.chunks(16) {
        if let Ok(b) = <[u8; 16]>::try_from(chunk) {
            let _ = judge_ip(IpAddr::V6(Ipv6Addr::from(b)));
        }
    }
});
