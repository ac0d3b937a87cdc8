//! Request bodies: a JSON object read field by field, so every validation error names its field
//! (serde's own messages say "invalid type at line 1 column 30", which an admin cannot act on).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::error::Error;

/// A JSON object body. Rejects other content types (415) and non-objects (400).
pub struct Body(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        // Requiring this type also keeps cross-site HTML forms out: they cannot send it without CORS.
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(Error::UnsupportedMediaType("expected Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::invalid(format!("could not read the body: {}", e.body_text())))?;
        Body::parse(&bytes)
    }
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(Error::invalid("body: expected a JSON object")),
            Err(e) => Err(Error::invalid(format!("body: invalid JSON: {e}"))),
        }
    }

    /// Refuses fields the endpoint does not know, so a typo is an error rather than silently ignored.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => {
                Err(Error::invalid(format!("{}: unknown field (expected one of: {})", clip(k), allowed.join(", "))))
            }
            None => Ok(()),
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.get(field).is_some_and(|v| !v.is_null())
    }

    pub fn string(&self, field: &str) -> Result<String, Error> {
        self.opt_string(field)?.ok_or_else(|| Error::invalid(format!("{field}: required")))
    }

    pub fn opt_string(&self, field: &str) -> Result<Option<String>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(format!("{field}: must be a string"))),
        }
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::invalid(format!("{field}: must be true or false"))),
        }
    }

    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                n.as_u64().map(Some).ok_or_else(|| Error::invalid(format!("{field}: must be a whole number ≥ 0")))
            }
            Some(_) => Err(Error::invalid(format!("{field}: must be a number"))),
        }
    }

    /// A nested object, read with the same helpers (its errors name the inner field only).
    pub fn opt_object(&self, field: &str) -> Result<Option<Body>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Body(map.clone()))),
            Some(_) => Err(Error::invalid(format!("{field}: must be an object"))),
        }
    }

    pub fn opt_array(&self, field: &str) -> Result<Option<Vec<Value>>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(_) => Err(Error::invalid(format!("{field}: must be a list"))),
        }
    }

    /// An element of a list as an object.
    pub fn element(field: &str, value: Value) -> Result<Body, Error> {
        match value {
            Value::Object(map) => Ok(Body(map)),
            _ => Err(Error::invalid(format!("{field}: must be an object"))),
        }
    }

    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().map(Some).ok_or_else(|| Error::invalid(format!("{field}: must be a whole number")))
            }
            Some(_) => Err(Error::invalid(format!("{field}: must be a number"))),
        }
    }
}

/// Field names echoed back in errors come from the client: keep them short.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Text an admin typed for people to read: trimmed, no control characters, bounded length.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, Error> {
    let v = value.trim();
    let len = v.chars().count();
    if len < min {
        return Err(Error::invalid(if min == 1 {
            format!("{field}: required")
        } else {
            format!("{field}: must be at least {min} characters")
        }));
    }
    if len > max {
        return Err(Error::invalid(format!("{field}: must be at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field}: must not contain control characters")));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let b = Body::parse(br#"{"capacity":"ten","recording":1,"x":true}"#).unwrap();
        assert!(b.opt_u64("capacity").unwrap_err().to_string().starts_with("capacity:"));
        assert!(b.opt_bool("recording").unwrap_err().to_string().starts_with("recording:"));
        assert!(b.string("name").unwrap_err().to_string().starts_with("name:"));
        assert!(b.only(&["capacity", "recording"]).unwrap_err().to_string().starts_with("x:"));
        assert!(Body::parse(b"[1]").is_err());
        assert!(Body::parse(b"{").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("name", "  Lab 1 ", 1, 10).unwrap(), "Lab 1");
        assert!(text("name", "   ", 1, 10).unwrap_err().to_string().contains("name: required"));
        assert!(text("name", "a\u{7}b", 1, 10).is_err());
        assert!(text("name", &"é".repeat(11), 1, 10).is_err());
    }
}
