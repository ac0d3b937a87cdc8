// A token's claims, read WITHOUT verifying them (the hub verifies): only to decide what to ask the
// user before joining, e.g. a name for a guest on a shared link (claim `guest: true`).

/** The JWT payload as an object, or null when the token is not a readable JWT. */
export function tokenClaims(token) {
  const part = String(token || '').split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

export function isGuestToken(token) {
  return tokenClaims(token)?.guest === true;
}
