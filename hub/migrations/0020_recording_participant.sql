-- Who a hub recorder's file shows (issue 21): the participant's display name for a teacher's or
-- student's own camera and microphone (kinds `camera` without a box, `participant`). NULL for the
-- box's files, which show the room.
ALTER TABLE recordings ADD COLUMN participant TEXT;
