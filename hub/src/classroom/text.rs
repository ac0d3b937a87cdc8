//! User text in and out: cleaning what people type (chat, poll questions, names) and writing it safely
//! into CSV exports. The hub never renders HTML; browsers insert text with `textContent`.

/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why typed text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong,
}

/// Bidirectional overrides can make a message display as something else ("Trojan Source").
pub(super) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Strips control characters (keeping line breaks when `multiline`), trims, and checks the length in
/// characters after cleaning: what people see is what is counted.
pub fn clean(input: &str, max_chars: usize, multiline: bool) -> Result<String, TextError> {
    let kept: String = input
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|&c| (multiline && c == '\n') || !(c.is_control() || is_bidi_control(c)))
        .collect();
    let trimmed = kept.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max_chars {
        return Err(TextError::TooLong);
    }
    Ok(trimmed.to_owned())
}

/// A display name from a token: cleaned, cut to [`MAX_NAME_CHARS`], never empty.
pub fn clean_name(input: &str) -> String {
    typed_name(input).unwrap_or_else(|| "Participant".to_owned())
}

/// A name as typed or given: one line, no control or bidi characters, trimmed, cut to
/// [`MAX_NAME_CHARS`]; `None` if nothing is left.
pub fn typed_name(input: &str) -> Option<String> {
    let single_line: String = input.chars().filter(|&c| !(c.is_control() || is_bidi_control(c))).collect();
    let name: String = single_line.trim().chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Words that name a role in the room: a guest calling themselves one is marked as a guest.
const ROLE_WORDS: [&str; 7] = ["teacher", "admin", "administrator", "classroom", "moderator", "host", "lectern"];

/// A guest's own choice of name, cleaned; "Guest" if empty. A name that claims a role (`Teacher`,
/// `admin!`) is shown as `Teacher (guest)`, so nobody in the room takes it for the real one.
pub fn guest_name(input: &str) -> String {
    let Some(name) = typed_name(input) else { return "Guest".to_owned() };
    let bare: String = name.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    if ROLE_WORDS.iter().any(|w| bare == *w || bare == format!("{w}s")) {
        let room = MAX_NAME_CHARS - " (guest)".len();
        let short: String = name.chars().take(room).collect();
        return format!("{} (guest)", short.trim_end());
    }
    name
}

/// One CSV field (RFC 4180), defused against spreadsheet formula injection: a cell starting with
/// `= + - @` gets a leading apostrophe so Excel and LibreOffice show it as text.
pub fn csv_field(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if defused.contains([',', '"', '\n', '\r']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

/// A CSV line with CRLF, as RFC 4180 and spreadsheet imports expect.
pub fn csv_row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f.as_ref())).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Unix ms as UTC ISO 8601 (`2024-05-06T08:30:00Z`), readable in a spreadsheet.
pub fn iso_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`, unsigned form).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_cannot_pass_for_the_teacher() {
        for claim in
            ["Teacher", " teacher ", "TEACHER!", "T.e.a.c.h.e.r", "Admin", "Classroom", "\u{202E}Teacher", "Teachers"]
        {
            assert!(guest_name(claim).ends_with(" (guest)"), "{claim:?} -> {}", guest_name(claim));
        }
        assert_eq!(guest_name("Teacher Ada's kid"), "Teacher Ada's kid", "only a bare role word is marked");
        assert_eq!(guest_name("Ada"), "Ada");
        assert_eq!(guest_name("  \u{0007} "), "Guest");
        assert!(guest_name(&format!("Teacher{}", " ".repeat(100))).chars().count() <= MAX_NAME_CHARS);
    }

    #[test]
    fn clean_strips_controls_and_bidi_and_trims() {
        assert_eq!(clean("  hi\u{0007} there\u{202E}  ", 100, false).unwrap(), "hi there");
        assert_eq!(clean("a\nb", 100, true).unwrap(), "a\nb");
        assert_eq!(clean("a\nb", 100, false).unwrap(), "ab");
        assert_eq!(clean("a\tb", 100, false).unwrap(), "a b");
    }

    #[test]
    fn clean_rejects_empty_and_counts_characters_not_bytes() {
        assert_eq!(clean(" \u{0000}\n ", 10, true), Err(TextError::Empty));
        assert_eq!(clean(&"é".repeat(10), 10, false).unwrap().chars().count(), 10);
        assert_eq!(clean(&"é".repeat(11), 10, false), Err(TextError::TooLong));
    }

    #[test]
    fn html_is_kept_verbatim_for_the_browser_to_escape() {
        assert_eq!(clean("<b>x</b>", 100, false).unwrap(), "<b>x</b>");
    }

    #[test]
    fn names_are_single_line_capped_and_never_empty() {
        assert_eq!(clean_name(" Ada\nLovelace "), "AdaLovelace");
        assert_eq!(clean_name("\u{0001}  "), "Participant");
        assert_eq!(clean_name(&"x".repeat(100)).chars().count(), MAX_NAME_CHARS);
        assert_eq!(clean_name("Ada\u{202E}ecalevol"), "Adaecalevol", "no bidi override");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@cmd"), "'@cmd");
        assert_eq!(csv_row(&["a", "b c"]), "a,b c\r\n");
    }

    #[test]
    fn iso_time_formats_utc() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(1_714_984_200_123), "2024-05-06T08:30:00Z");
    }
}
