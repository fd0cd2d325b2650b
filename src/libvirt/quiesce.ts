import type { Context } from "../context.js";
import type { Domain, Quiesce } from "../types.js";

/**
 * The guest-agent freeze as --quiesce asks for it, around `freezeWith` (a quiesced snapshot, or
 * domfsfreeze): "required" fails with the agent's error; "try" says why the guest was not frozen
 * and goes on crash-consistent; "off" does not ask. Returns whether the guest was frozen.
 */
export async function freezeAsAsked(
  ctx: Context,
  domain: Domain,
  quiesce: Quiesce,
  freezeWith: () => Promise<unknown>,
): Promise<boolean> {
  const crashConsistent = (why: string) => {
    ctx.log.warn(`${domain.name}: ${why}; the point is crash-consistent`);
    return false;
  };
  if (quiesce === "off") return false;
  if (quiesce === "try" && !domain.guestAgent)
    return crashConsistent("no guest agent channel, filesystems not frozen");
  try {
    await freezeWith();
    return true;
  } catch (error) {
    if (quiesce === "required") throw error;
    return crashConsistent(`guest filesystems not frozen (${(error as Error).message})`);
  }
}
