import type { Context } from "../context.js";
import type { Domain, Quiesce } from "../types.js";

/**
 * The guest-agent freeze as --quiesce asks for it, around `freezeWith` (a quiesced snapshot, or
 * domfsfreeze): "required" fails with the agent's error; "try" goes on crash-consistent when it
 * cannot freeze; "off" does not ask. Returns whether the guest was frozen. A domain with no agent
 * channel at all was set up so: its point is crash-consistent every night, which an info line
 * says, not a warning (warnings are for what went wrong: a fleet run with --warnings-exit would
 * otherwise flag every agent-less domain every night). An agent channel whose agent does not
 * answer is a freeze that was meant to happen and failed: that warns.
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
  if (quiesce === "try" && !domain.guestAgent) {
    ctx.log.info(
      `${domain.name}: no guest agent channel, so the point is crash-consistent (as after a power cut); a guest agent would let virtsnap freeze its filesystems`,
    );
    return false;
  }
  try {
    await freezeWith();
    return true;
  } catch (error) {
    if (quiesce === "required") throw error;
    return crashConsistent(`guest filesystems not frozen (${(error as Error).message})`);
  }
}
