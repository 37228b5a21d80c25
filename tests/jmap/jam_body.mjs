// jam_body.mjs — jmap-jam (an independent client) reads body properties, downloads a
// body part and parses an attached message, for tests/jmap/t_body.py. Usage:
//   node jam_body.mjs SESSION_URL USER PASSWORD
// Prints one JSON object with what the client saw (Basic instead of Bearer: jam.mjs).
import { basicJam } from "./jam_basic.mjs";

const [sessionUrl, user, password] = process.argv.slice(2);

const out = {};
const jam = basicJam(sessionUrl, user, password);
const accountId = await jam.getPrimaryAccount();
const [{ emails }] = await jam.requestMany((t) => {
  const query = t.Email.query({ accountId });
  const emails = t.Email.get({
    accountId,
    ids: query.$ref("/ids"),
    properties: ["subject", "bodyStructure", "textBody", "attachments", "bodyValues",
      "hasAttachment"],
    fetchTextBodyValues: true,
  });
  return { query, emails };
});
out.emails = emails.list;
const e = emails.list[0];
const parts = {};
for (const a of e.attachments) {
  const blob = await jam.downloadBlob({ accountId, blobId: a.blobId, mimeType: a.type,
    fileName: a.name ?? "part" });
  parts[a.partId] = { status: blob.status, type: blob.headers.get("content-type"),
    base64: Buffer.from(await blob.arrayBuffer()).toString("base64") };
}
out.parts = parts;
const rfc822 = e.attachments.find((a) => a.type === "message/rfc822");
const [parsed] = await jam.api.Email.parse({ accountId, blobIds: [rfc822.blobId],
  fetchTextBodyValues: true });
out.parsed = parsed;
console.log(JSON.stringify(out));
