import type { Log } from "./log.js";

export type NotifyOn = "always" | "failure";

/**
 * Pings in the healthchecks.io convention: URL/start when a run begins, URL when it succeeded,
 * URL/fail when it did not, each a POST whose body is a short excerpt of the run. With
 * `failure`, only URL/fail is sent. A ping that fails is logged and never fails the backup.
 */
export interface Notifier {
  start(): Promise<void>;
  finish(ok: boolean, excerpt: string): Promise<void>;
}

const TIMEOUT_MS = 10_000;
/** healthchecks.io keeps 100 kB of a ping's body; an excerpt should be far shorter anyway. */
const MAX_BODY = 10_000;

export function checkNotifyUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return undefined;
    return `--notify-url ${url}: only http and https URLs`;
  } catch {
    return `--notify-url ${url}: not a URL`;
  }
}

export function createNotifier(
  urls: string[],
  on: NotifyOn,
  log: Log,
  post: typeof fetch = fetch,
): Notifier {
  const ping = async (suffix: string, body: string) => {
    await Promise.all(
      urls.map(async (url) => {
        const target = `${url.replace(/\/+$/, "")}${suffix}`;
        try {
          const response = await post(target, {
            method: "POST",
            body: body.slice(-MAX_BODY),
            headers: { "content-type": "text/plain; charset=utf-8" },
            signal: AbortSignal.timeout(TIMEOUT_MS),
          });
          if (!response.ok) log.info(`notification to ${target}: HTTP ${response.status}`);
        } catch (error) {
          log.info(`notification to ${target} failed: ${(error as Error).message}`);
        }
      }),
    );
  };
  return {
    start: () => (on === "always" && urls.length > 0 ? ping("/start", "") : Promise.resolve()),
    finish: (ok, excerpt) => {
      if (urls.length === 0 || (ok && on === "failure")) return Promise.resolve();
      return ping(ok ? "" : "/fail", excerpt);
    },
  };
}
