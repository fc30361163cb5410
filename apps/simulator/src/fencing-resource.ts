/** What a write to a fenced resource came to. */
export type FencedWriteResult =
  | { accepted: true; token: bigint }
  | { accepted: false; token: bigint; highest: bigint; highestWriter: string };

/**
 * The storage a lock protects, in miniature: it remembers the highest fencing
 * token it has accepted and refuses any write carrying a lower one. This is
 * what stops a holder that stalled past its lease from corrupting data after
 * another holder took over (Kleppmann's fencing argument). A token equal to the
 * highest is the same hold writing again and is accepted.
 */
export class FencingResource {
  readonly name: string;
  private highest: bigint | null = null;
  private highestWriter = '';
  private accepted = 0;
  private refused = 0;
  /** The last value accepted, so tests can see whose write won. */
  private lastValue: string | null = null;

  constructor(name: string) {
    this.name = name;
  }

  write(token: bigint, writer: string, value: string): FencedWriteResult {
    if (this.highest !== null && token < this.highest) {
      this.refused++;
      return { accepted: false, token, highest: this.highest, highestWriter: this.highestWriter };
    }
    this.highest = token;
    this.highestWriter = writer;
    this.lastValue = value;
    this.accepted++;
    return { accepted: true, token };
  }

  stats(): { highest: bigint | null; highestWriter: string; accepted: number; refused: number; lastValue: string | null } {
    return { highest: this.highest, highestWriter: this.highestWriter, accepted: this.accepted, refused: this.refused, lastValue: this.lastValue };
  }
}

/** The line printed for a refusal; parseable by tests and by people grepping logs. */
export function refusalLine(resource: string, result: Extract<FencedWriteResult, { accepted: false }>, writer: string): string {
  return `fencing: refused stale token ${result.token} < ${result.highest} on ${resource} (writer ${writer}, current holder ${result.highestWriter})`;
}

const REFUSAL = /^fencing: refused stale token (\d+) < (\d+) on (\S+)/;

export function parseRefusalLine(line: string): { token: bigint; highest: bigint; resource: string } | null {
  const m = REFUSAL.exec(line);
  return m ? { token: BigInt(m[1]!), highest: BigInt(m[2]!), resource: m[3]! } : null;
}
