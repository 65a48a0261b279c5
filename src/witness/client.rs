//! The log's side of the protocol on the wire: one blocking HTTP/1.1 `POST
//! /add-checkpoint` to a witness at an `http://` URL, with a deadline, over the standard
//! library's TCP (a witness behind TLS is reached through a proxy or bastion). Small on
//! purpose: one request, one connection (`Connection: close`), a bounded answer.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// Longest a witness may take to connect, read the request and answer: a witness that is
/// down or slow must not hold a checkpoint for long (its cosignature is simply missing).
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read: a few cosignature lines are under 1 KiB; a 409's body is a number.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// A witness's answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// A witness's address: `http://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessUrl {
    host_port: String,
    prefix: String,
}

impl WitnessUrl {
    pub fn parse(url: &str) -> Result<WitnessUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("a witness URL starts with http:// (use a proxy for https)")?;
        let (host_port, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        if host_port.is_empty() || !host_port.contains(':') {
            return Err("a witness URL names host:port".into());
        }
        if host_port
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("a witness URL has no spaces or control characters".into());
        }
        let prefix = prefix.trim_end_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        Ok(WitnessUrl {
            host_port: host_port.to_string(),
            prefix,
        })
    }

    /// Sends an add-checkpoint body and reads the answer, within [`WITNESS_TIMEOUT`] per
    /// step.
    pub fn add_checkpoint(&self, body: &str) -> Result<Answer, String> {
        let addr = self
            .host_port
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.host_port))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.host_port))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, WITNESS_TIMEOUT).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(WITNESS_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(WITNESS_TIMEOUT)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        let head = format!(
            "POST {}/add-checkpoint HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.prefix,
            self.host_port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut raw)
            .map_err(|e| e.to_string())?;
        parse_answer(&raw)
    }
}

impl std::fmt::Display for WitnessUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host_port, self.prefix)
    }
}

/// A whole HTTP/1.1 response: status line, headers, and a body by its Content-Length,
/// chunked, or up to the end of the connection.
fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "the answer is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the answer has no end of headers")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or("the answer has no HTTP/1.x status line")?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("a header line has no colon")?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_string()),
            "content-length" => length = Some(value.parse().map_err(|_| "bad content-length")?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = match (chunked, length) {
        (true, _) => dechunk(body)?,
        (false, Some(length)) => body
            .get(..length)
            .ok_or("the answer ended before its content-length")?
            .to_string(),
        (false, None) => body.to_string(),
    };
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("a chunk has no size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "a chunk size is not hex")?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or("a chunk is cut short")?);
        body = rest.get(size + 2..).ok_or("a chunk is cut short")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_with_host_and_port() {
        let url = WitnessUrl::parse("http://127.0.0.1:8380/").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:8380");
        let prefixed = WitnessUrl::parse("http://w.example:80/tlog/witness").unwrap();
        assert_eq!(prefixed.prefix, "/tlog/witness");
        for bad in [
            "https://w.example:443",
            "http://",
            "http://w.example",
            "ftp://x:1",
            "http://a b:1",
        ] {
            assert!(WitnessUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_to_the_end() {
        let plain = b"HTTP/1.1 409 Conflict\r\ncontent-type: text/x.tlog.size\r\ncontent-length: 3\r\n\r\n12\n";
        assert_eq!(
            parse_answer(plain).unwrap(),
            Answer {
                status: 409,
                content_type: Some("text/x.tlog.size".into()),
                body: "12\n".into()
            }
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap().body, "abcde");
        let to_end = b"HTTP/1.0 200 OK\r\n\r\nline\n";
        assert_eq!(parse_answer(to_end).unwrap().body, "line\n");
        for bad in [
            &b"garbage"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort",
            b"SPDY 200\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(parse_answer(bad).is_err(), "{bad:?}");
        }
    }
}
