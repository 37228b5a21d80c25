// jam.mjs — drives buzon's JMAP server with jmap-jam (an independent client from the npm
// registry, tests/jmap/package.json) for tests/jmap/run.py. Usage:
//   node jam.mjs SESSION_URL USER PASSWORD
// Prints one JSON object with what the client saw. jmap-jam only sends
// "Authorization: Bearer TOKEN"; buzon takes HTTP Basic (RFC 7617), so the token is
// base64(user:password) and fetch is wrapped to say "Basic" instead of "Bearer"
// (jam_basic.mjs).
import { basicJam } from "./jam_basic.mjs";

const [sessionUrl, user, password] = process.argv.slice(2);

const out = {};
const jam = basicJam(sessionUrl, user, password);
const session = await jam.session;
out.session = session;
const accountId = await jam.getPrimaryAccount();
out.accountId = accountId;
const [mailboxes] = await jam.api.Mailbox.get({ accountId });
out.mailboxes = mailboxes;
const inbox = mailboxes.list.find((m) => m.role === "inbox");
const [{ query, emails }] = await jam.requestMany((t) => {
  const query = t.Email.query({
    accountId,
    filter: { inMailbox: inbox.id },
    sort: [{ property: "receivedAt", isAscending: false }],
    limit: 10,
    calculateTotal: true,
  });
  const emails = t.Email.get({
    accountId,
    ids: query.$ref("/ids"),
    properties: ["id", "blobId", "threadId", "mailboxIds", "keywords", "size",
      "receivedAt", "from", "to", "subject", "preview"],
  });
  return { query, emails };
});
out.query = query;
out.emails = emails;
const first = emails.list[0];
const blob = await jam.downloadBlob({ accountId, blobId: first.blobId,
  mimeType: "message/rfc822", fileName: "first.eml" });
out.download = { status: blob.status, length: (await blob.arrayBuffer()).byteLength,
  size: first.size, type: blob.headers.get("content-type") };
const [echo] = await jam.request(["Core/echo", { hello: "world", n: [1, 2] }]);
out.echo = echo;
try {
  await jam.request(["Email/set", { accountId }]);
  out.emailSet = "accepted";
} catch (e) {
  out.emailSet = e;
}
console.log(JSON.stringify(out));
