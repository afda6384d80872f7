/**
 * A small seeded random number generator for the fuzzer, so that a case is
 * the same every time its seed and number are given.
 *
 * @module
 */

/** Mixes `value` into 32 well-spread bits (splitmix32's finalizer). */
function mix(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Random choices drawn from one seed. */
export class Rng {
  #state: number;

  /** @param seed any 32-bit number */
  constructor(seed: number) {
    this.#state = mix(seed) || 1;
  }

  /** The generator of case `index` of a run seeded with `seed`. */
  static forCase(seed: number, index: number): Rng {
    return new Rng(mix(seed ^ mix(index)));
  }

  /** A float in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Some of `items`, each kept with probability `p`, in a shuffled order. */
  some<T>(items: readonly T[], p: number): T[] {
    return this.shuffle(items.filter(() => this.chance(p)));
  }

  /** `items` in a random order. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
