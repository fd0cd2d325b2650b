// The backup's pipeline: disk N is checked, flushed and hashed while disk N+1 copies, and the
// copy itself is flushed as it goes, so the last disk's fsync finds little left to write.
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Context } from "../context.js";
import { byteMeter } from "../progress.js";
import type { CatalogFormat, PointDisk } from "../types.js";
import { PARTIAL } from "./paths.js";
import { finishPointFile } from "./point-file.js";

/** How often a file being written is flushed: often enough that the final fsync is short. */
export const FLUSH_EVERY_MS = 250;

/** A small queue of partials to finish, one after the other, beside the copies still running. */
export class Finishing {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly results: Promise<PointDisk>[] = [];
  /** Bytes of the partials not hashed yet: the checksum phase's bar counts them down. */
  private pending = 0;
  private onBytes: ((bytes: number) => void) | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly domainDir: string,
    private readonly format: CatalogFormat,
  ) {}

  /** Queues `<file>.partial` (fully written) to be finished; `extra` goes into its catalog entry. */
  add(file: string, target: string, virtualSize: number, extra: Partial<PointDisk> = {}): void {
    const partial = path.join(this.domainDir, file) + PARTIAL;
    const done = this.tail.then(async () => {
      const size = (await fs.stat(partial)).size;
      this.pending += size;
      const hashed = (bytes: number) => {
        this.pending -= bytes;
        this.onBytes?.(bytes);
      };
      const disk = await finishPointFile(
        this.ctx,
        this.domainDir,
        file,
        target,
        virtualSize,
        this.format,
        hashed,
      );
      return { ...disk, ...extra };
    });
    this.results.push(done);
    // The next file waits for this one, failed or not; the failure itself surfaces in disks().
    this.tail = done.catch(() => {});
  }

  /** Every queued disk, in order, once all are finished; a bar shows what is left to hash. */
  async disks(): Promise<PointDisk[]> {
    if (this.ctx.progress.enabled) {
      // Queued files not started yet count as soon as they start.
      this.onBytes = byteMeter(this.ctx.progress, "checksum", () => this.pending);
    }
    try {
      await this.settle();
      return await Promise.all(this.results);
    } finally {
      this.onBytes = undefined;
      this.ctx.progress.clear();
    }
  }

  /** Waits for whatever is in flight: after a failure, before the point's files are removed. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.results);
  }
}

/**
 * Runs `work` (a copy into `files`) while flushing those files every FLUSH_EVERY_MS, so the page
 * cache is written out during the copy instead of all at once at its end.
 */
export async function whileFlushing<T>(files: string[], work: () => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      const slept = await sleep(FLUSH_EVERY_MS, true, { signal: stop.signal }).catch(() => false);
      if (!slept) return;
      for (const file of files) await datasyncIfThere(file);
    }
  })();
  try {
    return await work();
  } finally {
    stop.abort();
    await loop;
  }
}

/** A file the copy has not created yet (or removed) has nothing to flush. */
async function datasyncIfThere(file: string): Promise<void> {
  const handle = await fs.open(file, "r").catch(() => undefined);
  if (!handle) return;
  try {
    await handle.datasync();
  } catch {
    // A flush that fails here fails again in the final fsync, which reports it.
  } finally {
    await handle.close();
  }
}
