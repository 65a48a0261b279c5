//! A small blocking HTTP/1.1 client over one keep-alive connection, to this machine only;
//! the HTTP tests and the load generator (`examples/load.rs`) share it.
#![allow(dead_code)] // the tests and examples/load.rs each use a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status, headers (lower-case names) and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The stable error code of an error reply.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }
}

/// One connection to a server on this machine.
pub struct Client {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
    pub token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Client {
        assert!(addr.ip().is_loopback(), "tests talk to this machine only");
        Client {
            addr,
            reader: None,
            token: token.map(str::to_owned),
        }
    }

    pub fn get(&mut self, path: &str) -> std::io::Result<Reply> {
        self.send("GET", path, "", None)
    }

    pub fn post(&mut self, path: &str, body: &str, content_type: &str) -> std::io::Result<Reply> {
        self.send("POST", path, body, Some(content_type))
    }

    pub fn post_json(&mut self, path: &str, body: &serde_json::Value) -> std::io::Result<Reply> {
        self.post(path, &body.to_string(), "application/json")
    }

    pub fn delete(&mut self, path: &str) -> std::io::Result<Reply> {
        self.send("DELETE", path, "", None)
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        content_type: Option<&str>,
    ) -> std::io::Result<Reply> {
        let result = self.try_send(method, path, body, content_type);
        if result.is_err() {
            // The server may have closed an idle connection; the next call reconnects.
            self.reader = None;
        }
        result
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        content_type: Option<&str>,
    ) -> std::io::Result<Reply> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(ct) = content_type {
            request.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        request.push_str("\r\n");
        let reader = self.connection()?;
        let stream = reader.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        read_reply(reader)
    }

    fn connection(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.reader.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            stream.set_nodelay(true)?;
            self.reader = Some(BufReader::new(stream));
        }
        Ok(self.reader.as_mut().expect("connected just above"))
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or_else(|| bad("header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().map_err(|_| bad("content-length")))
            .transpose()?
            .ok_or_else(|| bad("the server sent no content-length"))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let body = String::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A chunked body (streamed responses such as the export): size lines in hex, each chunk,
/// and a zero-size chunk at the end. A transfer cut short is an error.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("the chunked body ended early"));
        }
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| bad("chunk size"))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}
