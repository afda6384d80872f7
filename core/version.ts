/** This release of minionize (kept equal to `version` in deno.json by a test). */
export const VERSION = "0.1.0";
