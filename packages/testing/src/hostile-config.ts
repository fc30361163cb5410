/**
 * A "billion laughs" YAML document: each level is a list of aliases to the level
 * before, so the last expands to 9^levels strings (9 levels: 387 million) from a few
 * hundred bytes. A loader without an alias limit runs out of memory on it.
 */
export function yamlAliasBomb(levels = 9): string {
  const name = (i: number) => `l${i}`;
  const lines = [`${name(0)}: &${name(0)} [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++) lines.push(`${name(i)}: &${name(i)} [${Array(9).fill(`*${name(i - 1)}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}
