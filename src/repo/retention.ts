import type { Catalog, RestorePoint } from "../types.js";
import { chainTip } from "./catalog.js";
import { dateOfPointId } from "./paths.js";

/** How many points to keep per rule; 0 turns a rule off (restic's --keep-* options). */
export interface KeepPolicy {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export type KeepRule = keyof KeepPolicy;

export interface RetentionDecision {
  /** Kept point id -> why (one entry per rule that keeps it). */
  keep: Map<string, string[]>;
  /** Oldest first. */
  remove: string[];
}

/**
 * restic's selection: walking from the newest point back, each rule keeps the newest point of
 * each period (hour, day, ISO week, month, in UTC) until it has kept its count. `last` keeps the
 * newest N outright. The point the next incremental builds on is always kept.
 */
export function choosePoints(catalog: Catalog, policy: KeepPolicy): RetentionDecision {
  const keep = new Map<string, string[]>();
  const add = (id: string, reason: string) => keep.set(id, [...(keep.get(id) ?? []), reason]);
  const newestFirst = [...catalog.points].reverse();
  const rules = Object.keys(PERIOD) as (keyof typeof PERIOD)[];
  const left = { ...policy };
  const lastPeriod = new Map<KeepRule, string>();
  for (const point of newestFirst) {
    if (left.last > 0) {
      left.last--;
      add(point.id, "last");
    }
    const date = dateOfPointId(point.id);
    for (const rule of rules) {
      if (left[rule] <= 0) continue;
      const period = PERIOD[rule](date);
      if (lastPeriod.get(rule) === period) continue;
      lastPeriod.set(rule, period);
      left[rule]--;
      add(point.id, rule);
    }
  }
  const tip = chainTip(catalog);
  if (tip) add(tip.id, "next backup builds on it");
  return { keep, remove: catalog.points.filter((p) => !keep.has(p.id)).map((p) => p.id) };
}

const PERIOD = {
  hourly: (d: Date) => d.toISOString().slice(0, 13),
  daily: (d: Date) => d.toISOString().slice(0, 10),
  weekly: (d: Date) => isoWeek(d),
  monthly: (d: Date) => d.toISOString().slice(0, 7),
} satisfies Record<Exclude<KeepRule, "last">, (d: Date) => string>;

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** What happens to one kept point whose parent is removed. */
export interface Merge {
  point: string;
  /** The removed ancestors it takes data from, oldest first. */
  absorbs: string[];
  /** Its parent afterwards: the nearest kept ancestor, or null (it becomes a full). */
  newParent: string | null;
  /**
   * fold: the removed ancestors serve no other point, so the kept point's data is committed down
   * into the oldest of them, whose file then takes the kept point's place (writes only the small
   * layers). rebase: an ancestor is shared, so the ancestors' data is copied up into the kept point.
   */
  how: "fold" | "rebase";
}

export interface PrunePlan {
  remove: string[];
  merges: Merge[];
  /** Chains left without points: their folders go. */
  emptiedChains: string[];
}

/** How to drop `remove` so that every other point keeps exactly its content. */
export function planPrune(catalog: Catalog, remove: readonly string[]): PrunePlan {
  const removed = new Set(remove);
  const byId = new Map(catalog.points.map((p) => [p.id, p]));
  const children = (id: string) => catalog.points.filter((p) => p.parent === id);
  const merges: Merge[] = [];
  for (const point of catalog.points) {
    if (removed.has(point.id) || point.parent === null || !removed.has(point.parent)) continue;
    const absorbs: RestorePoint[] = [];
    let ancestor: RestorePoint | undefined = byId.get(point.parent);
    while (ancestor && removed.has(ancestor.id)) {
      absorbs.unshift(ancestor);
      ancestor = ancestor.parent === null ? undefined : byId.get(ancestor.parent);
    }
    const shared = absorbs.some((a) => children(a.id).length > 1);
    merges.push({
      point: point.id,
      absorbs: absorbs.map((a) => a.id),
      newParent: ancestor?.id ?? null,
      how: shared ? "rebase" : "fold",
    });
  }
  const emptiedChains = catalog.chains
    .map((c) => c.id)
    .filter((chain) => catalog.points.every((p) => p.chain !== chain || removed.has(p.id)));
  return { remove: [...remove], merges, emptiedChains };
}

/**
 * The catalog's shape once `plan` is carried out: the removed points gone, each merged point on its
 * new parent (a full when it has none). Files and checksums are as before: a preview, for planning.
 */
export function catalogAfter(catalog: Catalog, plan: PrunePlan): Catalog {
  const removed = new Set(plan.remove);
  const merges = new Map(plan.merges.map((m) => [m.point, m]));
  const emptied = new Set(plan.emptiedChains);
  const points = catalog.points
    .filter((p) => !removed.has(p.id))
    .map((p): RestorePoint => {
      const merge = merges.get(p.id);
      if (!merge) return p;
      return { ...p, parent: merge.newParent, level: merge.newParent === null ? "full" : p.level };
    });
  return { ...catalog, chains: catalog.chains.filter((c) => !emptied.has(c.id)), points };
}
