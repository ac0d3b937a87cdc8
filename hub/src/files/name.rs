//! File names from uploaders: the `Lectern-Filename` header (percent-encoded UTF-8) made into a
//! clean display name, an ASCII path segment for links, and a `Content-Disposition` that always
//! downloads. Pure.

/// Longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The header an upload names its file in (percent-encoded UTF-8, as `encodeURIComponent` makes it).
pub const FILENAME_HEADER: &str = "lectern-filename";

/// The uploaded name as shown: percent-decoded, the last path component only, control characters
/// dropped, no leading dots, at most [`MAX_NAME_CHARS`] (the extension kept).
pub fn clean(raw: &str) -> Result<String, &'static str> {
    let decoded = percent_decode(raw).ok_or("the file name is not percent-encoded UTF-8")?;
    let last = decoded.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
    let name = name.trim().trim_start_matches('.').trim();
    if name.is_empty() {
        return Err("the file has no name");
    }
    let count = name.chars().count();
    if count <= MAX_NAME_CHARS {
        return Ok(name.to_owned());
    }
    // Keep the extension: it decides the type.
    let ext = name.rsplit_once('.').map(|(_, e)| e).filter(|e| e.chars().count() < 16).unwrap_or_default();
    let stem: String = name.chars().take(MAX_NAME_CHARS - ext.chars().count() - 1).collect();
    Ok(format!("{stem}.{ext}"))
}

/// Direction overrides (U+202E …) make a name read backwards past its extension (`evil[RLO]fdp.exe`
/// shows as `evilexe.pdf`): dropped.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// The name as a URL path segment and ASCII fallback: `[A-Za-z0-9._-]`, everything else `_`.
pub fn ascii_segment(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '_' }).collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() { "file".to_owned() } else { s.to_owned() }
}

/// `attachment` always (never shown inline), with an ASCII `filename` and the exact UTF-8 name in
/// `filename*` (RFC 6266).
pub fn content_disposition(name: &str) -> String {
    format!("attachment; filename=\"{}\"; filename*=UTF-8''{}", ascii_segment(name), percent_encode(name))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_stripped_of_paths_and_controls() {
        assert_eq!(clean("%C3%9Cbung%201.pdf").unwrap(), "Übung 1.pdf");
        assert_eq!(clean("..%2F..%2Fetc%2Fpasswd.txt").unwrap(), "passwd.txt");
        assert_eq!(clean("C:%5Cdocs%5Cplan.docx").unwrap(), "plan.docx");
        assert_eq!(clean("a%0Ab%E2%80%AEfdp.exe").unwrap(), "abfdp.exe");
        assert_eq!(clean(".hidden.txt").unwrap(), "hidden.txt");
        assert!(clean("%2F").is_err());
        assert!(clean("%ZZ").is_err());
        assert!(clean("%FF%FE").is_err(), "not UTF-8");
        let long = format!("{}.pdf", "x".repeat(500));
        let cut = clean(&long).unwrap();
        assert_eq!((cut.chars().count(), cut.ends_with(".pdf")), (MAX_NAME_CHARS, true));
    }

    #[test]
    fn downloads_are_attachments_with_a_safe_ascii_name() {
        assert_eq!(ascii_segment("Übung 1.pdf"), "_bung_1.pdf");
        assert_eq!(ascii_segment("\"quoted\";.txt"), "_quoted__.txt");
        assert_eq!(
            content_disposition("Übung \"1\".pdf"),
            "attachment; filename=\"_bung__1_.pdf\"; filename*=UTF-8''%C3%9Cbung%20%221%22.pdf"
        );
    }
}
