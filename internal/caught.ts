/**
 * Shared by tests only (not bundled: no package's src imports it). What `f` throws or its promise rejects with, or
 * null when it succeeds — for tests that check one error exactly (its class, message, what was left behind).
 */
export async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
    return null;
  } catch (e) {
    return e;
  }
}
