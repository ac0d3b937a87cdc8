-- PostgreSQL twin of hub/migrations/0019_recording_start.sql (docs/cluster.md): BIGINT for INTEGER.
-- Where each recorded file sits on the lesson's timeline (issue 21): `started_at` is the wall-clock
-- time (unix ms) of the file's first sample, as its writer knew it (the box's clock for its edge
-- files; the RTCP sender reports of each stream for the hub recorder's). The lesson page plays the
-- camera, slides and participants' files side by side at these offsets. NULL for files uploaded
-- before this column: the page lines them up at the lesson's start.
ALTER TABLE recordings ADD COLUMN started_at BIGINT;
