//! The file types a chat may carry: each by its extension and by what its first bytes are
//! (sniffed), never by what the client claims. Pure: a name and bytes in, a verdict out.

use std::fmt;

/// One type on the allow-list. [`Kind::ALL`] is the catalogue `[files] allow` picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pdf,
    Png,
    Jpg,
    Gif,
    Webp,
    Txt,
    Md,
    Csv,
    Docx,
    Xlsx,
    Pptx,
    Odt,
    Ods,
    Odp,
    Zip,
}

/// What the bytes of a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    Pdf,
    Png,
    Jpg,
    Gif,
    Webp,
    /// UTF-8 text without NUL bytes.
    Text,
    /// A ZIP archive holding an Office Open XML document of this kind, or an OpenDocument one.
    Zip(Option<Kind>),
    Other,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Pdf,
        Kind::Png,
        Kind::Jpg,
        Kind::Gif,
        Kind::Webp,
        Kind::Txt,
        Kind::Md,
        Kind::Csv,
        Kind::Docx,
        Kind::Xlsx,
        Kind::Pptx,
        Kind::Odt,
        Kind::Ods,
        Kind::Odp,
        Kind::Zip,
    ];

    /// The name `[files] allow` uses: the usual extension.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Png => "png",
            Kind::Jpg => "jpg",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Txt => "txt",
            Kind::Md => "md",
            Kind::Csv => "csv",
            Kind::Docx => "docx",
            Kind::Xlsx => "xlsx",
            Kind::Pptx => "pptx",
            Kind::Odt => "odt",
            Kind::Ods => "ods",
            Kind::Odp => "odp",
            Kind::Zip => "zip",
        }
    }

    /// Extensions that name this kind (lower case).
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Jpg => &["jpg", "jpeg"],
            Kind::Md => &["md", "markdown"],
            other => std::slice::from_ref(match other {
                Kind::Pdf => &"pdf",
                Kind::Png => &"png",
                Kind::Gif => &"gif",
                Kind::Webp => &"webp",
                Kind::Txt => &"txt",
                Kind::Csv => &"csv",
                Kind::Docx => &"docx",
                Kind::Xlsx => &"xlsx",
                Kind::Pptx => &"pptx",
                Kind::Odt => &"odt",
                Kind::Ods => &"ods",
                Kind::Odp => &"odp",
                _ => &"zip",
            }),
        }
    }

    /// The `Content-Type` it is stored and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Png => "image/png",
            Kind::Jpg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Txt => "text/plain; charset=utf-8",
            Kind::Md => "text/markdown; charset=utf-8",
            Kind::Csv => "text/csv; charset=utf-8",
            Kind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Kind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Kind::Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            Kind::Odt => "application/vnd.oasis.opendocument.text",
            Kind::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Kind::Odp => "application/vnd.oasis.opendocument.presentation",
            Kind::Zip => "application/zip",
        }
    }

    /// The kind `[files] allow` names (`jpeg` for `jpg` too).
    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.trim().trim_start_matches('.').to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| k.extensions().contains(&name.as_str()))
    }

    /// The kind a file name's extension says.
    pub fn of_name(file_name: &str) -> Option<Kind> {
        let (_, ext) = file_name.rsplit_once('.')?;
        Kind::parse(ext).filter(|_| !ext.is_empty())
    }

    /// Whether `bytes` really are this kind.
    pub fn matches(self, bytes: &[u8]) -> bool {
        let got = sniff(bytes);
        match self {
            Kind::Pdf => got == Sniffed::Pdf,
            Kind::Png => got == Sniffed::Png,
            Kind::Jpg => got == Sniffed::Jpg,
            Kind::Gif => got == Sniffed::Gif,
            Kind::Webp => got == Sniffed::Webp,
            Kind::Txt | Kind::Md | Kind::Csv => got == Sniffed::Text,
            Kind::Docx | Kind::Xlsx | Kind::Pptx | Kind::Odt | Kind::Ods | Kind::Odp => got == Sniffed::Zip(Some(self)),
            // A plain archive: any ZIP, an office document packed as one too.
            Kind::Zip => matches!(got, Sniffed::Zip(_)),
        }
    }

    /// What the bytes look like, in words (for a refusal's message).
    pub fn describe(bytes: &[u8]) -> &'static str {
        match sniff(bytes) {
            Sniffed::Pdf => "a PDF",
            Sniffed::Png => "a PNG image",
            Sniffed::Jpg => "a JPEG image",
            Sniffed::Gif => "a GIF image",
            Sniffed::Webp => "a WebP image",
            Sniffed::Text => "text",
            Sniffed::Zip(Some(_)) => "an office document",
            Sniffed::Zip(None) => "a ZIP archive",
            Sniffed::Other => "something else",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn sniff(b: &[u8]) -> Sniffed {
    if b.starts_with(b"%PDF-") {
        Sniffed::Pdf
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Sniffed::Png
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Sniffed::Jpg
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Sniffed::Gif
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Sniffed::Webp
    } else if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
        Sniffed::Zip(office_kind(b))
    } else if !b.contains(&0) && std::str::from_utf8(b).is_ok() {
        Sniffed::Text
    } else {
        Sniffed::Other
    }
}

/// An office document inside a ZIP: OpenDocument starts with a stored `mimetype` entry naming its
/// type; Office Open XML has `[Content_Types].xml` and its part folder (`word/`, `xl/`, `ppt/`).
fn office_kind(b: &[u8]) -> Option<Kind> {
    const ODF: &[(&[u8], Kind)] = &[
        (b"application/vnd.oasis.opendocument.text", Kind::Odt),
        (b"application/vnd.oasis.opendocument.spreadsheet", Kind::Ods),
        (b"application/vnd.oasis.opendocument.presentation", Kind::Odp),
    ];
    // The `mimetype` entry is the first one, stored uncompressed: its name at byte 30, data after.
    if b.get(30..38) == Some(b"mimetype") {
        let head = &b[38..b.len().min(38 + 100)];
        for (mime, kind) in ODF {
            if contains(head, mime) && !contains(head, &[mime, b"-template".as_slice()].concat()) {
                return Some(*kind);
            }
        }
    }
    if contains(b, b"[Content_Types].xml") {
        for (dir, kind) in [(b"word/".as_slice(), Kind::Docx), (b"xl/", Kind::Xlsx), (b"ppt/", Kind::Pptx)] {
            if contains(b, dir) {
                return Some(kind);
            }
        }
    }
    None
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ZIP whose first entry is named `first` holding `data` (stored), then an entry `second`.
    pub fn zip(first: &str, data: &[u8], second: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in [(first, data), (second, b"x".as_slice())] {
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn extensions_name_kinds_case_blind_and_unknown_ones_none() {
        assert_eq!(Kind::of_name("Slides.PDF"), Some(Kind::Pdf));
        assert_eq!(Kind::of_name("photo.jpeg"), Some(Kind::Jpg));
        assert_eq!(Kind::of_name("notes.tar.md"), Some(Kind::Md));
        for bad in ["run.exe", "page.html", "noext", "trailing.", ".pdf.sh"] {
            assert_eq!(Kind::of_name(bad), None, "{bad}");
        }
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
    }

    #[test]
    fn bytes_must_be_what_the_extension_says() {
        assert!(Kind::Pdf.matches(b"%PDF-1.4\n..."));
        assert!(!Kind::Pdf.matches(b"<html><script>alert(1)</script>"));
        assert!(Kind::Png.matches(b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(!Kind::Png.matches(b"%PDF-1.4"));
        assert!(Kind::Jpg.matches(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(Kind::Gif.matches(b"GIF89a...."));
        assert!(Kind::Webp.matches(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(Kind::Txt.matches("plain text, ünïcode\n".as_bytes()));
        assert!(Kind::Csv.matches(b"a,b\n1,2\n"));
        assert!(!Kind::Txt.matches(b"MZ\x90\0\x03\0"), "a Windows program is not text");
        assert!(!Kind::Txt.matches(b"\xff\xfe not utf-8"));
        assert_eq!(Kind::describe(b"MZ\x90\0"), "something else");
    }

    #[test]
    fn office_documents_are_told_apart_inside_their_zip() {
        let docx = zip("[Content_Types].xml", b"<Types/>", "word/document.xml");
        let xlsx = zip("[Content_Types].xml", b"<Types/>", "xl/workbook.xml");
        let odt = zip("mimetype", b"application/vnd.oasis.opendocument.text", "content.xml");
        let odp = zip("mimetype", b"application/vnd.oasis.opendocument.presentation", "content.xml");
        let plain = zip("a.txt", b"hello", "b.txt");
        assert!(Kind::Docx.matches(&docx) && !Kind::Xlsx.matches(&docx) && !Kind::Pptx.matches(&docx));
        assert!(Kind::Xlsx.matches(&xlsx));
        assert!(Kind::Odt.matches(&odt) && !Kind::Ods.matches(&odt));
        assert!(Kind::Odp.matches(&odp));
        assert!(!Kind::Docx.matches(&plain), "a plain ZIP renamed .docx");
        for z in [&docx, &odt, &plain] {
            assert!(Kind::Zip.matches(z));
        }
        assert!(!Kind::Zip.matches(b"%PDF-1.4"));
    }
}
