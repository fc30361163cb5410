import { describe, expect, it } from 'vitest';
import { storeReadError } from './lock-history.js';

describe('storeReadError', () => {
  it('turns a missing-table Prisma error into the migrate hint', () => {
    const e = Object.assign(new Error('\nInvalid `prisma.lock.findMany()` invocation:\n\n\nThe table `main.Lock` does not exist in the current database.'), { code: 'P2021' });
    expect(storeReadError(e)).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/no Lockscope tables yet; run `npm run db:migrate`/) });
  });

  it('keeps the last line of other driver errors as the reason', () => {
    expect(storeReadError(new Error('\nInvalid call:\n\nconnection refused.')).message).toBe('The store could not be read (connection refused); check store.url in the config.');
  });
});
