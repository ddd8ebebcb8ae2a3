//! Loopback-only test servers: a minimal DNS server (UDP, A and AAAA answers) and a
//! minimal HTTP/1.1 responder. Both listen on 127.0.0.1 and record what they saw.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Decides the answers for (name without trailing dot, how many A queries for this name
/// came before). Return `None` to stay silent (a dead name server).
pub type Answers = dyn Fn(&str, usize) -> Option<Vec<IpAddr>> + Send + Sync;

pub struct DnsServer {
    pub addr: SocketAddr,
    /// Every question, as `name TYPE` (TYPE is `A`, `AAAA` or the number).
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl DnsServer {
    pub async fn start(
        answers: impl Fn(&str, usize) -> Option<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = queries.clone();
        let answers: Arc<Answers> = Arc::new(answers);
        tokio::spawn(async move {
            let mut a_counts: HashMap<String, usize> = HashMap::new();
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Some((id, flags, name, qtype, question_end)) = parse_query(&buf[..n]) else {
                    continue;
                };
                let label = match qtype {
                    1 => "A".to_string(),
                    28 => "AAAA".to_string(),
                    other => other.to_string(),
                };
                seen.lock().unwrap().push(format!("{name} {label}"));
                let count = if qtype == 1 {
                    let c = a_counts.entry(name.clone()).or_default();
                    *c += 1;
                    *c - 1
                } else {
                    a_counts.get(&name).copied().unwrap_or(0).saturating_sub(1)
                };
                let Some(ips) = answers(&name, count) else {
                    continue;
                };
                let records: Vec<IpAddr> = ips
                    .into_iter()
                    .filter(|ip| (qtype == 1 && ip.is_ipv4()) || (qtype == 28 && ip.is_ipv6()))
                    .collect();
                let reply = build_reply(id, flags, &buf[12..question_end], qtype, &records);
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        DnsServer { addr, queries }
    }

    pub fn a_queries(&self, name: &str) -> usize {
        let wanted = format!("{name} A");
        self.queries
            .lock()
            .unwrap()
            .iter()
            .filter(|q| **q == wanted)
            .count()
    }

    pub fn query_count(&self) -> usize {
        self.queries.lock().unwrap().len()
    }
}

/// (id, flags, lowercase name without the trailing dot, qtype, end of the question).
fn parse_query(packet: &[u8]) -> Option<(u16, u16, String, u16, usize)> {
    if packet.len() < 12 || u16::from_be_bytes([packet[4], packet[5]]) != 1 {
        return None;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
    Some((id, flags, labels.join("."), qtype, at + 4))
}

fn build_reply(
    id: u16,
    query_flags: u16,
    question: &[u8],
    qtype: u16,
    records: &[IpAddr],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    // QR, the query's RD bit, RA, NOERROR.
    let flags = 0x8080 | (query_flags & 0x0100);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(question);
    for ip in records {
        out.extend_from_slice(&[0xc0, 0x0c]); // the name in the question
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: nothing to cache
        match ip {
            IpAddr::V4(v4) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    out
}

/// What the HTTP server sends for a request (given its head and body as text): raw
/// response bytes, or `None` to keep the connection open and never answer.
pub type Handler = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

pub struct HttpServer {
    pub addr: SocketAddr,
    /// Each request's head and body, as text.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

impl HttpServer {
    pub async fn start(
        handler: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> HttpServer {
        Self::start_on("127.0.0.1:0", handler).await
    }

    pub async fn start_on(
        bind: &str,
        handler: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> HttpServer {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen, count) = (requests.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (handler, seen) = (handler.clone(), seen.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request.clone());
                    match handler(&request) {
                        Some(response) => {
                            let _ = stream.write_all(&response).await;
                            let _ = stream.shutdown().await;
                        }
                        None => {
                            // A dead endpoint: hold the connection, answer nothing.
                            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        }
                    }
                });
            }
        });
        HttpServer {
            addr,
            requests,
            connections,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn request_log(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.ok()?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
}

/// A complete response with a body.
pub fn response(status: &str, extra_headers: &str, body: &str) -> Option<Vec<u8>> {
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A redirect to `location`.
pub fn redirect(status: &str, location: &str) -> Option<Vec<u8>> {
    response(status, &format!("location: {location}\r\n"), "")
}

/// Everything written to tracing while the guard lives.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    pub fn start() -> LogCapture {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || SharedWriter(writer.clone()))
            .finish();
        LogCapture {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
