import { createInterface } from 'node:readline/promises';

/** Asks on the terminal; only "y" or "yes" confirms. The question goes to stderr so stdout stays data. */
export async function confirmOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
