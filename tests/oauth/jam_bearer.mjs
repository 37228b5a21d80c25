// jam_bearer.mjs — jmap-jam (tests/jmap/node_modules, an independent JMAP client) with
// its own "Authorization: Bearer TOKEN" (RFC 6750), for tests/oauth/run.py. Usage:
//   node jam_bearer.mjs SESSION_URL TOKEN
// Prints one JSON object: the session's username, the mailboxes' roles, an echo.
import { JamClient } from "../jmap/node_modules/jmap-jam/dist/index.js";

const [sessionUrl, bearerToken] = process.argv.slice(2);
const jam = new JamClient({ sessionUrl, bearerToken });
const session = await jam.session;
const accountId = await jam.getPrimaryAccount();
const [mailboxes] = await jam.api.Mailbox.get({ accountId });
const [echo] = await jam.request(["Core/echo", { bearer: true }]);
console.log(JSON.stringify({ username: session.username,
  roles: mailboxes.list.map((m) => m.role).filter((r) => r), echo }));
