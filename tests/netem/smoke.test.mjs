// CI smoke of the network test bed: `scripts/netem.sh smoke` (8 s clear, the student capped at
// 600 kbit/s for 25 s, then 35 s clear) must show that the bed works — media reaches the student in
// its namespace, the cap is in effect, and nothing of the run is left afterwards — and that the hub
// adapts to the student's link: under the cap its camera moves to the lower simulcast layer and keeps
// playing, and the top layer returns once the cap is lifted (issue 16's CI scenario; the targets
// themselves are measured by `scripts/netem.sh cap600` into docs/network.md). Needs root.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUN = `s${process.pid.toString(36).slice(-6)}`;
// Its own logs folder, so a smoke never clashes with someone's `scripts/netem.sh smoke` in the same checkout.
const WORK = path.join(REPO, 'target', 'netem', `smoke-${RUN}`);
const CAP_KBPS = 600;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function netem(scenario, timeoutMs) {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(REPO, 'scripts/netem.sh'), [scenario], { env: { ...process.env, NETEM_RUN: RUN, NETEM_WORK: WORK }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

test('the network bed carries media, caps the student and leaves nothing behind',
  { skip: isRoot ? false : 'needs root (network namespaces, tc, nft): run scripts/test.sh as root', timeout: 240000 },
  async () => {
    const res = await netem('smoke', 200000);
    const lines = res.out.trim().split('\n');
    const why = `exit ${res.code ?? res.signal}\nstdout:\n${res.out}\nstderr (tail):\n${res.err.split('\n').slice(-40).join('\n')}`;
    let result;
    try { result = JSON.parse(lines[lines.length - 1]); } catch { assert.fail(`no JSON last line\n${why}`); }
    console.log(lines.slice(0, -1).join('\n'));

    assert.equal(result.scenario, 'smoke', why);
    assert.equal(result.teardown, 'clean', why);
    assert.equal(res.code, 0, why);
    const [clear, cap, after] = result.phases;
    assert.deepEqual(result.phases.map((p) => p.name), ['clear', 'cap600', 'after'], why);

    // Media flows: frames at the box's top layer, audio played out, well above the cap when clear.
    assert.ok(clear.videoFps >= 10, `video fps when clear: ${clear.videoFps}\n${why}`);
    assert.equal(clear.maxWidth, result.ladder.main.width, why);
    assert.ok(clear.kbps > CAP_KBPS * 1.2, `kbps when clear ${clear.kbps}: the box must send well above the cap for the test to mean anything\n${why}`);

    // The cap is in effect: the rate falls under it, and the router's tbf on the student's link held traffic back.
    assert.ok(cap.kbps <= CAP_KBPS * 1.05, `kbps under the ${CAP_KBPS} kbit/s cap: ${cap.kbps}\n${why}`);
    const tbf = result.shaping.cap600?.s1 || [];
    assert.equal(tbf.length, 2, `a tbf each way on the student's link: ${JSON.stringify(tbf)}`);
    assert.ok(tbf.every((q) => q.rate === '600Kbit'), JSON.stringify(tbf));
    assert.ok(tbf[0].dropped + tbf[0].overlimits > 0, `the downlink tbf never held a packet back: ${JSON.stringify(tbf)}`);

    // The hub adapts: under the cap the student is moved to the lower layer (at its next keyframe)
    // and video keeps coming; the top layer returns after the cap is lifted.
    const low = result.ladder.layers[0].width;
    assert.equal(cap.endWidth, low, `under the cap the student ends on the ${low}-wide layer\n${why}`);
    assert.ok(cap.videoFps >= 5, `video keeps playing under the cap: ${cap.videoFps} fps\n${why}`);
    assert.equal(after.endWidth, result.ladder.main.width, `the top layer returns after the cap\n${why}`);

    // Nothing of the run is left, checked here too, independently of the runner's own check.
    const left = spawnSync(path.join(REPO, 'tests/netem/topo.sh'), ['leftovers', RUN], { encoding: 'utf8' });
    assert.equal(left.status, 0, `left behind: ${left.stdout}${left.stderr}`);
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!ns.includes(`lnt-${RUN}-`), `namespaces left: ${ns}`);
    rmSync(WORK, { recursive: true, force: true }); // kept only when the test fails
  });
