import { CommandError, OperationError, UsageError } from "../errors.js";
import type { Run } from "../exec.js";
import type { Domain } from "../types.js";
import { parseDomainXml } from "./domain-xml.js";
import type { Virsh } from "./virsh.js";

/** Reads a domain's live XML and state; an unknown name is the user's mistake (exit 2). */
export async function readDomain(run: Run, virsh: Virsh, name: string): Promise<Domain> {
  // Side by side: two virsh round trips for the price of one.
  const stateRun = run(virsh.domState(name)).catch(unknownDomain(name));
  const xmlRun = run(virsh.dumpXml(name)).catch(unknownDomain(name));
  await Promise.allSettled([stateRun, xmlRun]);
  const state = (await stateRun).stdout.trim();
  const xml = (await xmlRun).stdout;
  const parsed = await parseDomainXml(xml);
  return { ...parsed, active: isActive(state, name), xml };
}

/** running, paused, blocked, in shutdown: QEMU is there. shut off: it is not. */
function isActive(state: string, name: string): boolean {
  if (state === "shut off") return false;
  if (["running", "paused", "idle", "in shutdown", "blocked"].includes(state)) return true;
  throw new OperationError(
    `domain '${name}' is ${state}; back it up when it is running or shut off`,
  );
}

function isNoSuchDomain(error: unknown): boolean {
  return (
    error instanceof CommandError && /failed to get domain|Domain not found/i.test(error.stderr)
  );
}

function unknownDomain(name: string) {
  return (error: unknown): never => {
    if (isNoSuchDomain(error)) throw new UsageError(`domain '${name}' does not exist`);
    throw error;
  };
}

/** libvirt may use a name as a file name; these would escape or confuse the repository layout. */
export function checkDomainName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new UsageError(`'${name}' is not a usable domain name`);
  }
}

/** For a new domain's name: refuses one libvirt already knows (a define would replace it). */
export async function checkNameIsFree(run: Run, virsh: Virsh, name: string): Promise<void> {
  checkDomainName(name);
  const taken = await run(virsh.domState(name)).then(
    () => true,
    (error: unknown) => {
      if (isNoSuchDomain(error)) return false;
      throw error;
    },
  );
  if (taken) throw new UsageError(`domain '${name}' already exists; choose another name`);
}
