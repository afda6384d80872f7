import { conformance } from "./suite.ts";

// No server: a sweep directory per case, with a 2 s lease. Its params are
// JSON values the engine stores itself, never text to decode, so the
// malformed-message case does not apply (no jsonDecoder).
conformance({
  engine: "execo",
  available: () => true,
  start: () => Promise.resolve({ env: {}, stop: () => Promise.resolve() }),
  async queue() {
    const dir = await Deno.makeTempDir({ prefix: "execo-conformance-" });
    return {
      env: { EXECO_PERSISTENCE_DIR: `${dir}/sweep`, MINION_LEASE: "2" },
      leaseMs: 2_000,
      close: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
