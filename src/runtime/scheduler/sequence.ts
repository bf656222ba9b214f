/** A sequence as the scheduler sees it: token ids, how many are in the KV cache, and its state. */

export type SeqStatus = 'waiting' | 'running' | 'finished';

export class Sequence {
  /** Prompt followed by every generated token. */
  readonly tokens: number[];
  /** Tokens whose keys and values are in the KV cache. */
  numComputed = 0;
  status: SeqStatus = 'waiting';
  numPreemptions = 0;

  constructor(
    readonly id: number,
    tokens: readonly number[],
    readonly numPromptTokens: number,
    /** FCFS order: smaller is older. Forked samples share their parent's. */
    readonly arrival: number,
  ) {
    this.tokens = [...tokens];
  }

  /** Tokens still to compute: a prompt (or prompt + output after preemption) or the last sampled one. */
  get numToCompute(): number {
    return this.tokens.length - this.numComputed;
  }
}

/** FCFS comparator: older arrival first, then lower id. */
export function byAge(a: Sequence, b: Sequence): number {
  return a.arrival - b.arrival || a.id - b.id;
}

/** Inserts `seq` into `list` (kept sorted by `byAge`). */
export function insertByAge(list: Sequence[], seq: Sequence): void {
  let i = list.length;
  while (i > 0 && byAge(list[i - 1] as Sequence, seq) > 0) i--;
  list.splice(i, 0, seq);
}
