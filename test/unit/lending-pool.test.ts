/**
 * LendingPool: a buffer is reused only once it is sealed and every view lent from it is back;
 * stray, repeated and foreign give-backs change nothing; small buffers get memory of their own;
 * the free list is capped and released when idle.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { giveBack, LENDING, LendingPool, requestLending } from '../../src/core/lending-pool.js';

const SIZE = 64 * 1024;

describe('LendingPool', () => {
  it('reuses a buffer once it is sealed and all its views are back, not before', () => {
    const pool = new LendingPool(SIZE, 4);
    const a = pool.take();
    const v1 = pool.lend(a, a.subarray(0, 100));
    const v2 = pool.lend(a, a.subarray(100, 300));
    giveBack(v1);
    giveBack(v2);
    // Not sealed: the producer may still write into it.
    expect(pool.take().buffer).not.toBe(a.buffer);
    const b = pool.take();
    const w = pool.lend(b, b.subarray(0, 10));
    pool.seal(b);
    expect(pool.free).toBe(0); // a view is still out
    giveBack(w);
    expect(pool.free).toBe(1);
    const again = pool.take();
    expect(again).toBe(b);
    expect(pool.reused).toBe(1);
  });

  it('a sealed buffer nothing was lent from is free at once', () => {
    const pool = new LendingPool(SIZE, 4);
    const a = pool.take();
    pool.seal(a);
    expect(pool.take()).toBe(a);
  });

  it('a second give-back of a view, or of a view nobody lent, changes nothing', () => {
    const pool = new LendingPool(SIZE, 4);
    const a = pool.take();
    const v = pool.lend(a, a.subarray(0, 10));
    pool.seal(a);
    giveBack(v);
    const reusedA = pool.take();
    expect(reusedA).toBe(a);
    const v2 = pool.lend(a, a.subarray(0, 20));
    pool.seal(a);
    giveBack(v); // stale: from the previous lending of the same memory
    giveBack(a.subarray(0, 20)); // same bytes, but not the view that was lent
    giveBack(Buffer.alloc(10));
    expect(pool.free).toBe(0);
    expect(pool.take()).not.toBe(a);
    giveBack(v2);
    expect(pool.free).toBe(1);
  });

  it('views of other memory are not registered; lending after the seal is ignored', () => {
    const pool = new LendingPool(SIZE, 4);
    const a = pool.take();
    const other = Buffer.allocUnsafe(SIZE);
    pool.lend(a, other.subarray(0, 5));
    pool.seal(a);
    const late = pool.lend(a, a.subarray(0, 5)); // sealed: returned as it is, not counted
    expect(late.length).toBe(5);
    expect(pool.free).toBe(1);
  });

  it('keeps at most maxFree free buffers', () => {
    const pool = new LendingPool(SIZE, 2);
    const bufs = [pool.take(), pool.take(), pool.take()];
    for (const b of bufs) pool.seal(b);
    expect(pool.free).toBe(2);
  });

  it('buffers small enough for Node’s shared slab still get memory of their own', () => {
    // Buffer.allocUnsafe(1 KiB) would slice one shared 8 KiB slab: two buffers, one identity.
    const pool = new LendingPool(1024, 4);
    const a = pool.take();
    const b = pool.take();
    expect(a.buffer).not.toBe(b.buffer);
    pool.lend(b, b.subarray(0, 10));
    pool.seal(a);
    pool.seal(b);
    expect(pool.free).toBe(1); // a only: b has a view out
    expect(pool.take()).toBe(a);
  });

  it('releases the free buffers after idleMs without a take; a buffer given back later is still reusable', async () => {
    const pool = new LendingPool(SIZE, 8, 30);
    const a = pool.take();
    pool.seal(a);
    const b = pool.take();
    expect(b).toBe(a);
    const vb = pool.lend(b, b.subarray(0, 1));
    const c = pool.take();
    pool.seal(c);
    expect(pool.free).toBe(1);
    await sleep(120);
    expect(pool.free).toBe(0);
    pool.seal(b);
    giveBack(vb);
    expect(pool.free).toBe(1);
    expect(pool.take()).toBe(b);
  });

  it('requestLending calls the stream’s LENDING method, and ignores anything without one', () => {
    let asked = 0;
    const stream = { [LENDING]: () => asked++ };
    requestLending(stream);
    requestLending({});
    requestLending(undefined);
    requestLending(null);
    expect(asked).toBe(1);
  });
});
