//! One HTTP/1.1 client connection, driven by the task that makes the call.
//!
//! Why not hyper's client: `benches/http.sh` profiled hyper-util's pooled
//! client at about 24 µs of CPU per request against wrk's 10, more than the
//! server spent answering, because every request crossed from the caller's
//! task to a connection task and back through channels, checked a pool out
//! and in, and built a `Uri` and header map; hyper's bare `conn::http1` still
//! cost about 13.5 µs. On a box the load generator shares with the server,
//! every microsecond the client spends is one the server does not get. Here
//! the calling task owns the connection for the exchange: the request is
//! formatted into a reused buffer and written with one call, the answer is
//! read into another reused buffer, its head parsed by httparse (the parser
//! hyper itself uses) and its body handed to the caller as a slice. No task,
//! channel or allocation per request once the buffers have grown.
//!
//! What it speaks: requests with a `content-length` body or none; answers
//! framed by `content-length`, `transfer-encoding: chunked` or the end of the
//! connection, interim 1xx heads skipped, `connection: close` and HTTP/1.0
//! honoured. No pipelining: one request per connection at a time.

use std::fmt;
use std::io::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer's head may not be longer than this.
const HEAD_MAX: usize = 64 * 1024;
/// Nor its body (the API's bodies are a few hundred bytes).
const BODY_MAX: usize = 16 * 1024 * 1024;
/// Room for the next read: an answer of the API fits one read, so the read
/// comes back short and tokio knows the socket is drained without asking
/// the kernel again.
const READ_CHUNK: usize = 8 * 1024;
/// A connection idle longer than this is closed rather than reused: well
/// inside `paystorm serve`'s 60 s idle timeout, so the server never closes a
/// connection just as a request goes out on it.
pub const IDLE_MAX: Duration = Duration::from_secs(30);

/// The connection broke or the peer spoke something else than HTTP/1.1.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken;

impl From<std::io::Error> for Broken {
    fn from(_: std::io::Error) -> Broken {
        Broken
    }
}

/// What an answer's head says.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// `Idempotent-Replayed: true`.
    pub replayed: bool,
    /// `Retry-After` in seconds.
    pub retry_after_s: Option<u32>,
    /// The head's length in bytes, blank line included.
    len: usize,
    framing: Framing,
    /// The server will close the connection after this answer.
    close: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A whole answer, its body still in the connection's buffers.
#[derive(Debug)]
pub struct Answer {
    pub head: Head,
    body: Body,
}

#[derive(Debug)]
enum Body {
    /// In the read buffer.
    In(Range<usize>),
    /// Decoded from chunks into the scratch buffer.
    Dechunked,
}

pub struct Conn {
    stream: TcpStream,
    /// What has been read of the answer in progress.
    read: Vec<u8>,
    /// The request in progress, head and body.
    write: Vec<u8>,
    /// A request's JSON body before its length is known; a chunked body
    /// after decoding.
    scratch: Vec<u8>,
    idle_since: Instant,
}

impl Conn {
    /// Opens a connection with Nagle's algorithm off: a request is one write
    /// and must go out at once, not wait for the last answer's ACK.
    pub async fn open(authority: &str, timeout: Duration) -> std::io::Result<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            read: Vec::with_capacity(READ_CHUNK),
            write: Vec::with_capacity(1024),
            scratch: Vec::new(),
            idle_since: Instant::now(),
        })
    }

    /// Whether an idle connection must not carry another request: idle too
    /// long, or the server closed it (or said something unasked, like a 408
    /// before closing) while it sat in the pool. The read is answered from
    /// tokio's readiness flags, without a system call, unless the socket
    /// did become readable.
    pub fn is_stale(&self) -> bool {
        if self.idle_since.elapsed() >= IDLE_MAX {
            return true;
        }
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Starts a request: the request line, its path put together from
    /// `path`, then `fixed` (whole header lines, each ending in CRLF,
    /// formatted once by the caller).
    pub fn begin(&mut self, method: &str, path: &[Part<'_>], fixed: &[&[u8]]) {
        let w = &mut self.write;
        w.clear();
        w.extend_from_slice(method.as_bytes());
        w.push(b' ');
        for part in path {
            match part {
                Part::Text(t) => w.extend_from_slice(t.as_bytes()),
                Part::Number(n) => push_decimal(w, *n),
            }
        }
        w.extend_from_slice(b" HTTP/1.1\r\n");
        for line in fixed {
            w.extend_from_slice(line);
        }
    }

    pub fn header(&mut self, name: &str, value: impl fmt::Display) {
        let _ = write!(self.write, "{name}: {value}\r\n");
    }

    /// Ends the head, with a JSON body if there is one.
    pub fn end<B: Serialize>(&mut self, body: Option<&B>) -> Result<(), Broken> {
        if let Some(body) = body {
            self.scratch.clear();
            serde_json::to_writer(&mut self.scratch, body).map_err(|_| Broken)?;
            let _ = write!(
                self.write,
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                self.scratch.len()
            );
            self.write.extend_from_slice(&self.scratch);
        } else {
            self.write.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    /// Writes the request. An error means the server did not get all of
    /// it, so it cannot have acted on it.
    pub async fn send(&mut self) -> Result<(), Broken> {
        self.stream.write_all(&self.write).await?;
        Ok(())
    }

    /// Reads the answer to the request sent.
    pub async fn receive(&mut self) -> Result<Answer, Broken> {
        self.read.clear();
        let head = loop {
            if let Some(head) = parse_head(&self.read)? {
                if (100..200).contains(&head.status) {
                    if head.status == 101 {
                        return Err(Broken);
                    }
                    // An interim answer (100 Continue, 103 Early Hints):
                    // the real one follows.
                    self.read.drain(..head.len);
                    continue;
                }
                break head;
            }
            if self.read.len() >= HEAD_MAX || self.fill().await? == 0 {
                return Err(Broken);
            }
        };
        let body = match head.framing {
            Framing::Length(n) => {
                let end = head.len.checked_add(n).ok_or(Broken)?;
                if n > BODY_MAX {
                    return Err(Broken);
                }
                while self.read.len() < end {
                    if self.fill().await? == 0 {
                        return Err(Broken);
                    }
                }
                Body::In(head.len..end)
            }
            Framing::Chunked => loop {
                if let Some(used) = dechunk(&self.read[head.len..], &mut self.scratch)? {
                    // Bytes beyond the answer would belong to nothing we
                    // asked for: the connection is out of step.
                    if head.len + used != self.read.len() {
                        return Ok(Answer {
                            head: Head {
                                close: true,
                                ..head
                            },
                            body: Body::Dechunked,
                        });
                    }
                    break Body::Dechunked;
                }
                if self.read.len() - head.len > BODY_MAX + HEAD_MAX || self.fill().await? == 0 {
                    return Err(Broken);
                }
            },
            Framing::UntilClose => {
                while self.fill().await? > 0 {
                    if self.read.len() - head.len > BODY_MAX {
                        return Err(Broken);
                    }
                }
                Body::In(head.len..self.read.len())
            }
        };
        let extra = matches!(&body, Body::In(r) if r.end != self.read.len());
        Ok(Answer {
            head: Head {
                close: head.close || extra,
                ..head
            },
            body,
        })
    }

    /// The answer's body.
    pub fn body(&self, answer: &Answer) -> &[u8] {
        match &answer.body {
            Body::In(r) => &self.read[r.clone()],
            Body::Dechunked => &self.scratch,
        }
    }

    /// Whether the connection can carry another request after `answer`.
    pub fn reusable(&self, answer: &Answer) -> bool {
        !answer.head.close
    }

    /// Marks the connection idle from now (it goes back to the pool).
    pub fn idle(&mut self) {
        self.idle_since = Instant::now();
    }

    /// Reads what has arrived, waiting for at least one byte; 0 at the end.
    async fn fill(&mut self) -> Result<usize, Broken> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 2 {
            self.read.reserve(READ_CHUNK);
        }
        Ok(self.stream.read_buf(&mut self.read).await?)
    }
}

/// A piece of a request's path.
pub enum Part<'a> {
    Text(&'a str),
    /// In decimal, as ids are written on the wire.
    Number(u64),
}

/// `n` in decimal, without going through `fmt` (the path of nearly every
/// request has an id in it).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// An answer's head, once all of it is in `buf`.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Broken> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Broken),
    };
    let status = r.code.ok_or(Broken)?;
    // HTTP/1.0 closes after each answer unless asked to keep alive.
    let mut close = r.version != Some(1);
    let mut length = None;
    let mut chunked = false;
    let mut replayed = false;
    let mut retry_after_s = None;
    for h in r.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(Broken)?;
            // Two different lengths: the framing cannot be trusted.
            if length.is_some_and(|l| l != n) {
                return Err(Broken);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked is the last coding when present (RFC 9112 6.1).
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                return Err(Broken);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case(crate::live::server::reply::IDEMPOTENT_REPLAYED) {
            replayed = h.value == b"true";
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after_s = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        replayed,
        retry_after_s,
        len,
        framing,
        close,
    }))
}

/// Decodes a chunked body from `src` into `out`: `Some(bytes used)` once
/// the last chunk and the trailers are in, `None` while more must be read.
fn dechunk(src: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Broken> {
    out.clear();
    let mut at = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&src[at..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Broken),
        };
        at += used;
        let size = usize::try_from(size).map_err(|_| Broken)?;
        if size > BODY_MAX || out.len() + size > BODY_MAX {
            return Err(Broken);
        }
        if size == 0 {
            // Trailer lines, then a blank line.
            loop {
                let Some(eol) = src[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if src.len() < at + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&src[at..at + size]);
        if &src[at + size..at + size + 2] != b"\r\n" {
            return Err(Broken);
        }
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_with_a_length_and_the_api_headers() {
        let text = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 12\r\nRetry-After: 3\r\nidempotent-replayed: true\r\n\r\n{\"error\":{}}";
        let head = parse_head(text).unwrap().unwrap();
        assert_eq!(head.status, 429);
        assert_eq!(head.retry_after_s, Some(3));
        assert!(head.replayed);
        assert_eq!(head.framing, Framing::Length(12));
        assert_eq!(head.len, text.len() - 12);
        assert!(!head.close);
    }

    #[test]
    fn numbers_in_paths() {
        for n in [0, 7, 10, 4_500, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap(), None);
    }

    #[test]
    fn close_and_http_1_0_end_the_connection() {
        let close =
            parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n");
        assert!(close.unwrap().unwrap().close);
        let old = parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert!(old.unwrap().unwrap().close);
        let kept =
            parse_head(b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n");
        assert!(!kept.unwrap().unwrap().close);
    }

    #[test]
    fn no_length_reads_until_close() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        assert!(head.close);
        let empty = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(empty.framing, Framing::Length(0));
    }

    #[test]
    fn conflicting_lengths_and_other_codings_are_refused() {
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n";
        assert_eq!(parse_head(two), Err(Broken));
        let gzip = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n";
        assert_eq!(parse_head(gzip), Err(Broken));
        assert_eq!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"), Err(Broken));
    }

    #[test]
    fn chunks_decode_with_extensions_and_trailers() {
        let mut out = Vec::new();
        let body = b"4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nx-trailer: y\r\n\r\n";
        assert_eq!(dechunk(body, &mut out), Ok(Some(body.len())));
        assert_eq!(out, b"{\"a\":1}");
        for cut in 0..body.len() {
            assert_eq!(dechunk(&body[..cut], &mut out), Ok(None), "cut at {cut}");
        }
        assert_eq!(dechunk(b"2\r\nabX\r\n", &mut out), Err(Broken));
        assert_eq!(dechunk(b"zz\r\n", &mut out), Err(Broken));
    }

    /// A scripted server: answers the first request with `answer`'s pieces,
    /// each written separately, then closes.
    async fn scripted(pieces: Vec<&'static [u8]>) -> Conn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            for p in pieces {
                s.write_all(p).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let mut conn = Conn::open(&addr, Duration::from_secs(5)).await.unwrap();
        let path = [Part::Text("/v1/payments/pay_"), Part::Number(1)];
        conn.begin("GET", &path, &[b"host: x\r\n"]);
        conn.end::<()>(None).unwrap();
        assert_eq!(
            conn.write,
            b"GET /v1/payments/pay_1 HTTP/1.1\r\nhost: x\r\n\r\n"
        );
        conn.send().await.unwrap();
        conn
    }

    #[tokio::test]
    async fn an_answer_split_across_reads_is_put_together() {
        let mut conn = scripted(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncont",
            b"ent-length: 5\r\n\r\nhe",
            b"llo",
        ])
        .await;
        let answer = conn.receive().await.unwrap();
        assert_eq!(answer.head.status, 200);
        assert_eq!(conn.body(&answer), b"hello");
        assert!(conn.reusable(&answer));
        // The server closed after answering: the pooled connection is stale.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(conn.is_stale());
    }

    #[tokio::test]
    async fn chunked_and_until_close_answers_are_read_whole() {
        let mut conn = scripted(vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab",
            b"c\r\n0\r\n\r\n",
        ])
        .await;
        let answer = conn.receive().await.unwrap();
        assert_eq!(conn.body(&answer), b"abc");
        assert!(conn.reusable(&answer));
        let mut conn = scripted(vec![b"HTTP/1.1 200 OK\r\n\r\nto the", b" end"]).await;
        let answer = conn.receive().await.unwrap();
        assert_eq!(conn.body(&answer), b"to the end");
        assert!(!conn.reusable(&answer));
    }

    #[tokio::test]
    async fn a_connection_cut_mid_answer_is_broken() {
        let mut conn = scripted(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"]).await;
        assert_eq!(conn.receive().await.unwrap_err(), Broken);
        let mut conn = scripted(vec![]).await;
        assert_eq!(conn.receive().await.unwrap_err(), Broken);
    }

    #[tokio::test]
    async fn a_body_goes_out_with_its_length() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut conn = Conn::open(&addr, Duration::from_secs(5)).await.unwrap();
        conn.begin("POST", &[Part::Text("/v1/payments")], &[]);
        conn.header("idempotency-key", "key_7");
        conn.end(Some(&serde_json::json!({"amount": 5}))).unwrap();
        assert_eq!(
            std::str::from_utf8(&conn.write).unwrap(),
            "POST /v1/payments HTTP/1.1\r\nidempotency-key: key_7\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{\"amount\":5}"
        );
        assert!(!conn.is_stale());
    }
}
