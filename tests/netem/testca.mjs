// A throwaway certificate authority for one bed run: a CA, a server certificate for an IP address
// signed by it (coturn's TURN-over-TLS listener), and an NSS database trusting the CA in a home
// directory of its own, which Chromium reads on Linux ($HOME/.pki/nssdb). Needs openssl and
// certutil (libnss3-tools).

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** Writes ca.pem, server.pem (SAN: IP `ip`) and server.key into `dir`; returns their paths. */
export function testCa(dir, ip) {
  mkdirSync(dir, { recursive: true });
  const f = (n) => path.join(dir, n);
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=Lectern netem test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${ip}`,
    '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(f('server.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** A home directory whose NSS database (Chromium's on Linux) trusts `caPem` for TLS servers. */
export function homeTrusting(home, caPem) {
  const db = path.join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  run('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
  run('certutil', ['-A', '-d', `sql:${db}`, '-n', 'lectern-netem-ca', '-t', 'C,,', '-i', caPem]);
  return home;
}
