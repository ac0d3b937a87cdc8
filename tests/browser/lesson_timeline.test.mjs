// The lesson page's timeline (hub/assets/lessonplayer.js), without a browser: split files of one
// stream chain into one track, each placed by its startedAt; a file without one follows the one
// before; a gap between files stays a gap; tracks go camera, slides, then the rest.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clock, lengthOf, segmentAt, tracksOf } from '../../hub/assets/lessonplayer.js';

const T0 = 1_700_000_000_000;
const file = (track, kind, startedAt, durationMs, name = `${track}-${startedAt}`) =>
  ({ track, kind, name, startedAt, durationMs, url: `/recordings/1/${name}.mp4`, state: 'ready' });

test('split files chain into one track placed by their starts, with a gap left as a gap', () => {
  const lesson = {
    startedAt: T0,
    endedAt: T0 + 200_000,
    files: [
      file('slides', 'slides', T0 + 2_500, 60_000),
      file('camera', 'camera', T0 + 2_000, 60_000),
      file('camera', 'camera', T0 + 62_000, 30_000),
      // The box reconnected: a new prefix, the same track, after a 10 s gap.
      file('camera', 'camera', T0 + 102_000, 50_000),
      // Written before files said where they start: right after the one before.
      file('camera', 'camera', null, 5_000, 'old'),
      file('participant-7', 'camera', T0 + 40_000, 20_000),
      { ...file('audio', 'audio', T0, 1_000), url: null, state: 'uploading' },
    ],
  };
  const tracks = tracksOf(lesson);
  assert.deepEqual(tracks.map((t) => t.key), ['camera', 'slides', 'participant-7'], 'files not ready are left out');
  const camera = tracks[0];
  assert.deepEqual(camera.segments.map((s) => [s.start, s.end]),
    [[2_000, 62_000], [62_000, 92_000], [102_000, 152_000], [152_000, 157_000]]);
  assert.equal(segmentAt(camera, 1_999), null, 'before the recording: nothing');
  assert.equal(segmentAt(camera, 61_999), camera.segments[0]);
  assert.equal(segmentAt(camera, 62_000), camera.segments[1], 'the next file takes over at its start');
  assert.equal(segmentAt(camera, 95_000), null, 'the gap stays a gap');
  assert.equal(segmentAt(camera, 102_000), camera.segments[2]);
  assert.equal(lengthOf(lesson, tracks), 200_000, 'the lesson outlasts its files');
  assert.equal(lengthOf({ ...lesson, endedAt: T0 + 1_000 }, tracks), 157_000, 'or the files outlast it');
  assert.equal(lengthOf({ ...lesson, endedAt: null }, tracks), 157_000, 'still on: as far as the files go');
});

test('a file starting before the lesson keeps its place (its first moments come before zero); clocks read as m:ss or h:mm:ss', () => {
  const tracks = tracksOf({ startedAt: T0, endedAt: null, files: [file('camera', 'camera', T0 - 500, 1_000)] });
  assert.deepEqual(tracks[0].segments.map((s) => [s.start, s.end]), [[-500, 500]]);
  assert.equal(segmentAt(tracks[0], 0), tracks[0].segments[0], 'at zero it is half a second in');
  assert.equal(clock(0), '0:00');
  assert.equal(clock(65_400), '1:05');
  assert.equal(clock(3_600_000 + 61_000), '1:01:01');
  assert.equal(clock(-5), '0:00');
});
