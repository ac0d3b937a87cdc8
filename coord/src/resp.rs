//! RESP2, the Redis wire protocol: commands out as arrays of bulk strings, replies in. The parser
//! is pure and incremental (it says how many bytes a complete reply took, or that it needs more),
//! bounded so a hostile or broken peer cannot make it allocate without limit.

use thiserror::Error;

/// A reply from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    /// `None` is the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` is the nil array.
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The text of a simple or bulk string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Simple(s) => Some(s),
            Value::Bulk(Some(b)) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RespError {
    #[error("malformed RESP: {0}")]
    Malformed(&'static str),
    #[error("RESP reply too large ({0} bytes or elements)")]
    TooLarge(i64),
}

/// Larger bulk strings than this are refused (ours are tokens and numbers).
const MAX_BULK: i64 = 1 << 20;
const MAX_ARRAY: i64 = 1 << 16;
const MAX_DEPTH: usize = 8;

/// A command as RESP: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One complete reply from the front of `buf` and the bytes it took, or `None` if more is needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Malformed("nested too deep"));
    }
    let Some(line_end) = find_crlf(buf, at) else {
        return Ok(None);
    };
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[at + 1..line_end]).map_err(|_| RespError::Malformed("line is not UTF-8"))?;
    let next = line_end + 2;
    match kind {
        b'+' => Ok(Some((Value::Simple(line.to_owned()), next))),
        b'-' => Ok(Some((Value::Error(line.to_owned()), next))),
        b':' => Ok(Some((Value::Int(integer(line)?), next))),
        b'$' => {
            let len = integer(line)?;
            if len < 0 {
                return Ok(Some((Value::Bulk(None), next)));
            }
            if len > MAX_BULK {
                return Err(RespError::TooLarge(len));
            }
            // Invariant: 0 <= len <= MAX_BULK, so it fits a usize.
            let end = next + usize::try_from(len).expect("bounded length");
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(RespError::Malformed("bulk string not followed by CRLF"));
            }
            Ok(Some((Value::Bulk(Some(buf[next..end].to_vec())), end + 2)))
        }
        b'*' => {
            let len = integer(line)?;
            if len < 0 {
                return Ok(Some((Value::Array(None), next)));
            }
            if len > MAX_ARRAY {
                return Err(RespError::TooLarge(len));
            }
            let mut items = Vec::new();
            let mut pos = next;
            for _ in 0..len {
                match parse_at(buf, pos, depth + 1)? {
                    Some((v, p)) => {
                        items.push(v);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Value::Array(Some(items)), pos)))
        }
        _ => Err(RespError::Malformed("unknown reply type")),
    }
}

fn integer(s: &str) -> Result<i64, RespError> {
    s.parse().map_err(|_| RespError::Malformed("not an integer"))
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn replies_parse_whole_or_ask_for_more() {
        let reply = b"*2\r\n$7\r\ngranted\r\n:42\r\n+OK\r\n";
        let (v, used) = parse(reply).unwrap().unwrap();
        assert_eq!(v, Value::Array(Some(vec![Value::Bulk(Some(b"granted".to_vec())), Value::Int(42)])));
        assert_eq!(&reply[used..], b"+OK\r\n");
        for cut in 0..used {
            assert_eq!(parse(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse(b"$-1\r\n").unwrap().unwrap().0, Value::Bulk(None));
        assert_eq!(parse(b"-ERR no\r\n").unwrap().unwrap().0, Value::Error("ERR no".into()));
    }

    #[test]
    fn hostile_replies_are_refused() {
        assert_eq!(parse(b"$99999999999\r\n"), Err(RespError::TooLarge(99_999_999_999)));
        assert_eq!(parse(b"*99999999\r\n"), Err(RespError::TooLarge(99_999_999)));
        assert!(parse(b"?\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert!(parse(b"$1\r\nab\r\n").is_err());
        assert!(parse(&b"*1\r\n".repeat(20)).is_err());
    }
}
