// Kept for src/commands/verify.ts, which another change owns; everything else imports src/repo/access.ts.
export { existingRepo, refuseIfReadByDomains } from "../repo/access.js";
