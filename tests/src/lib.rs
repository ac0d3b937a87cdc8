//! End-to-end tests live in `tests/` of this crate and in `browser/` (Playwright); see README.md.
