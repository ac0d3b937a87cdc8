//! The recordings' disk budget, decided without touching the disk: given the files under the
//! recordings directory (oldest first), how much they may use and how much must stay free, which
//! files to delete and whether recording must stop. Only files the hub already holds (uploaded)
//! are ever deleted, oldest first; when that is not enough, recording stops — the live lesson
//! never does.

use std::path::PathBuf;

/// One recording file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    pub bytes: u64,
    /// The hub acknowledged all of it (a `<file>.uploaded` marker beside it).
    pub uploaded: bool,
}

/// How much the recordings may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// At most this much under the recordings directory.
    pub max_bytes: u64,
    /// At least this much left free on its filesystem.
    pub min_free_bytes: u64,
}

/// What to do about the disk now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Uploaded files to delete, oldest first.
    pub delete: Vec<PathBuf>,
    /// Even after those deletions the budget is exceeded (or the disk too full) with files the
    /// hub does not have yet: stop recording (or do not start).
    pub stop: bool,
}

/// Decides, for `files` oldest first and `free_bytes` left on the filesystem.
pub fn plan(files: &[FileEntry], budget: Budget, free_bytes: u64) -> Plan {
    let used: u64 = files.iter().map(|f| f.bytes).sum();
    let over_budget = used.saturating_sub(budget.max_bytes);
    let short_of_free = budget.min_free_bytes.saturating_sub(free_bytes);
    let mut need = over_budget.max(short_of_free);
    let mut delete = Vec::new();
    for f in files.iter().filter(|f| f.uploaded) {
        if need == 0 {
            break;
        }
        delete.push(f.path.clone());
        need = need.saturating_sub(f.bytes);
    }
    Plan { delete, stop: need > 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn file(name: &str, mb: u64, uploaded: bool) -> FileEntry {
        FileEntry { path: PathBuf::from(name), bytes: mb * MB, uploaded }
    }

    fn budget(max_mb: u64, min_free_mb: u64) -> Budget {
        Budget { max_bytes: max_mb * MB, min_free_bytes: min_free_mb * MB }
    }

    #[test]
    fn within_budget_nothing_happens() {
        let files = [file("a", 10, true), file("b", 10, false)];
        assert_eq!(plan(&files, budget(100, 50), 500 * MB), Plan::default());
        assert_eq!(plan(&[], budget(0, 0), 0), Plan::default());
    }

    #[test]
    fn over_budget_the_oldest_uploaded_files_go_first_and_only_as_many_as_needed() {
        let files = [file("old-kept", 30, false), file("a", 20, true), file("b", 20, true), file("c", 20, true)];
        // 90 MB used, 50 allowed: 40 MB must go, from the uploaded ones, oldest first.
        let p = plan(&files, budget(50, 0), 500 * MB);
        assert_eq!(p.delete, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(!p.stop);
    }

    #[test]
    fn files_the_hub_does_not_have_are_never_deleted_recording_stops_instead() {
        let files = [file("a", 20, true), file("b", 50, false)];
        let p = plan(&files, budget(30, 0), 500 * MB);
        assert_eq!(p.delete, [PathBuf::from("a")], "what can go, goes");
        assert!(p.stop, "50 MB not uploaded is over a 30 MB budget");
    }

    #[test]
    fn a_nearly_full_disk_frees_space_or_stops_recording() {
        let files = [file("a", 20, true), file("b", 5, false)];
        let p = plan(&files, budget(1000, 100), 90 * MB);
        assert_eq!((p.delete, p.stop), (vec![PathBuf::from("a")], false), "10 MB short: one file frees it");
        let p = plan(&files, budget(1000, 100), 50 * MB);
        assert!(p.stop, "50 MB short and only 20 MB uploaded");
    }
}
