// Catalog format 2's integrity data for disk files: `sha256-4m:<hex>`, the SHA-256 of the
// concatenated SHA-256s of the file's 4 MiB blocks. Blocks are independent, so they are hashed on
// worker threads side by side (two per core), while qemu-img check and the fsync run; a
// whole-file SHA-256 is one serial pass on one core after the flush.
//
// Precisely: a file of `size` bytes has n = ceil(size / 4 MiB) blocks; block i is bytes
// [i * 4194304, min((i + 1) * 4194304, size)). H_i = SHA-256(block i), 32 raw bytes, and
// digest = hex(SHA-256(H_0 || H_1 || ... || H_{n-1})); an empty file's digest is SHA-256 of nothing.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import { Worker } from "node:worker_threads";

export const BLOCK_SIZE = 4 * 1024 * 1024;
export const DIGEST_PREFIX = "sha256-4m:";
/** Blocks one worker hashes per message: 32 MiB, so progress moves and the threads stay busy. */
const BLOCKS_PER_TASK = 8;

export function isBlockDigest(value: unknown): value is string {
  return typeof value === "string" && /^sha256-4m:[0-9a-f]{64}$/.test(value);
}

/** The digest from the blocks' own hashes, in order (32 bytes each). */
export function combineBlockHashes(hashes: Buffer[]): string {
  const outer = createHash("sha256");
  for (const h of hashes) outer.update(h);
  return DIGEST_PREFIX + outer.digest("hex");
}

/** The same digest of bytes in memory (tests, and the single-thread path of `upgrade`). */
export class BlockHasher {
  private readonly hashes: Buffer[] = [];
  private block = createHash("sha256");
  private filled = 0;

  update(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(BLOCK_SIZE - this.filled, data.length - at);
      this.block.update(data.subarray(at, at + take));
      this.filled += take;
      at += take;
      if (this.filled === BLOCK_SIZE) this.endBlock();
    }
  }

  digest(): string {
    if (this.filled > 0) this.endBlock();
    return combineBlockHashes(this.hashes);
  }

  private endBlock(): void {
    this.hashes.push(this.block.digest());
    this.block = createHash("sha256");
    this.filled = 0;
  }
}

// CommonJS source run with `eval`: a worker file of its own would not exist inside the bundle
// (dist/pkg/virtsnap.cjs) or the single executable.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const BLOCK = ${BLOCK_SIZE};
const buffer = Buffer.allocUnsafe(BLOCK);
parentPort.on("message", ({ id, file, first, count }) => {
  let fd;
  try {
    fd = fs.openSync(file, "r");
    const out = [];
    for (let i = 0; i < count; i++) {
      const position = (first + i) * BLOCK;
      let got = 0;
      for (;;) {
        const n = fs.readSync(fd, buffer, got, BLOCK - got, position + got);
        if (n === 0) break;
        got += n;
        if (got === BLOCK) break;
      }
      if (got === 0) break;
      out.push(createHash("sha256").update(buffer.subarray(0, got)).digest());
      if (got < BLOCK) break;
    }
    parentPort.postMessage({ id, hashes: Buffer.concat(out) });
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

interface Task {
  file: string;
  first: number;
  count: number;
  resolve: (hashes: Buffer) => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  hashes?: Uint8Array;
  error?: string;
}

/**
 * A few threads shared by every digest of the process. Idle workers are unref'd, so they never
 * keep the process alive; a worker with a task is ref'd until its answer comes.
 */
class HashPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Task[] = [];
  private readonly busy = new Map<Worker, { id: number; task: Task }>();
  private workers = 0;
  private nextId = 0;

  constructor(private readonly size: number) {}

  hash(file: string, first: number, count: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ file, first, count, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? this.spawn();
      if (!worker) return;
      const task = this.queue.shift() as Task;
      const id = this.nextId++;
      this.busy.set(worker, { id, task });
      worker.ref();
      worker.postMessage({ id, file: task.file, first: task.first, count: task.count });
    }
  }

  private spawn(): Worker | undefined {
    if (this.workers >= this.size) return undefined;
    this.workers++;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on("message", (reply: Reply) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (job && reply.error !== undefined) job.task.reject(new Error(reply.error));
      else if (job) job.task.resolve(Buffer.from(reply.hashes ?? new Uint8Array()));
      this.pump();
    });
    worker.on("error", (error) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      this.workers--;
      job?.task.reject(error);
      this.pump();
    });
    return worker;
  }
}

let pool: HashPool | undefined;

/**
 * Threads for hashing: two per core, at most 4 (a disk rarely feeds more). A worker's read blocks
 * it while the disk answers, so a second one per core hashes meanwhile.
 */
function hashPool(): HashPool {
  if (!pool) {
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    pool = new HashPool(Math.max(1, Math.min(4, 2 * cores)));
  }
  return pool;
}

/**
 * The file's `sha256-4m:` digest, its blocks hashed on worker threads. `onBytes` hears of each
 * stretch of the file as it is done (for a progress bar).
 */
export async function blockDigest(
  file: string,
  onBytes: (bytes: number) => void = () => {},
): Promise<string> {
  const { size } = await fs.stat(file);
  const blocks = Math.ceil(size / BLOCK_SIZE);
  const tasks: Promise<Buffer>[] = [];
  for (let first = 0; first < blocks; first += BLOCKS_PER_TASK) {
    const count = Math.min(BLOCKS_PER_TASK, blocks - first);
    const last = Math.min(size, (first + count) * BLOCK_SIZE);
    tasks.push(
      hashPool()
        .hash(file, first, count)
        .then((hashes) => {
          onBytes(last - first * BLOCK_SIZE);
          return hashes;
        }),
    );
  }
  const hashes = await Promise.all(tasks);
  const joined = Buffer.concat(hashes);
  if (joined.length !== blocks * 32)
    throw new Error(`${file} changed size while it was hashed (${size} bytes at the start)`);
  const outer = createHash("sha256").update(joined);
  return DIGEST_PREFIX + outer.digest("hex");
}
