// jam_set.mjs — jmap-jam (an independent client) doing the write side against buzon for
// tests/jmap/t_set.py: upload, Email/import, Email/set create (text + HTML + an
// uploaded attachment) with a creation id used by a later call, keyword update,
// download of the uploaded blob, destroy. Usage: node jam_set.mjs SESSION_URL USER PASSWORD
// Prints one JSON object with what the client saw. Basic instead of Bearer as jam.mjs.
import { basicJam } from "./jam_basic.mjs";

const [sessionUrl, user, password] = process.argv.slice(2);

const out = {};
const jam = basicJam(sessionUrl, user, password);
const accountId = await jam.getPrimaryAccount();
const [mailboxes] = await jam.api.Mailbox.get({ accountId });
const inbox = mailboxes.list.find((m) => m.role === "inbox");
const drafts = mailboxes.list.find((m) => m.role === "drafts");
out.inbox = inbox.id;
out.drafts = drafts.id;

const eml = "From: Jam <jam@example.org>\r\nTo: demo@example.org\r\n" +
  "Subject: imported by jam\r\nMessage-ID: <jam-import@example.org>\r\n\r\nimported body\r\n";
out.upload = await jam.uploadBlob(accountId, new Blob([eml], { type: "message/rfc822" }));
const att = await jam.uploadBlob(accountId, new Blob([new Uint8Array([0, 1, 2, 255, 10, 13])],
  { type: "application/octet-stream" }));
out.attachment = att;
const [imp] = await jam.api.Email.import({ accountId, emails: {
  i1: { blobId: out.upload.blobId, mailboxIds: { [inbox.id]: true },
        keywords: { $seen: true }, receivedAt: "2026-01-02T03:04:05Z" } } });
out.import = imp;

const [res, meta] = await jam.requestMany((t) => {
  const set = t.Email.set({ accountId, create: { draft1: {
    mailboxIds: { [drafts.id]: true },
    keywords: { $draft: true, $seen: true },
    from: [{ name: "Zoë Jam", email: "zoe@example.org" }],
    to: [{ name: null, email: "demo@example.org" }],
    subject: "Grüße from jam",
    textBody: [{ partId: "t", type: "text/plain" }],
    htmlBody: [{ partId: "h", type: "text/html" }],
    attachments: [{ blobId: att.blobId, type: "application/octet-stream", name: "data.bin",
                    disposition: "attachment" }],
    bodyValues: { t: { value: "Hallo, schöne Grüße!\n" },
                  h: { value: "<p>Hallo, <b>schöne</b> Grüße!</p>\n" } },
  } } });
  const get = t.Email.get({ accountId, ids: ["#draft1"],
    properties: ["id", "subject", "keywords", "mailboxIds", "size", "from"] });
  return { set, get };
});
out.create = res.set;
out.get = res.get;
const id = res.set.created.draft1.id;
const [upd] = await jam.api.Email.set({ accountId, update: { [id]: { "keywords/$flagged": true } } });
out.update = upd;
const blob = await jam.downloadBlob({ accountId, blobId: att.blobId,
  mimeType: "application/octet-stream", fileName: "data.bin" });
out.download = Array.from(new Uint8Array(await blob.arrayBuffer()));
const [del] = await jam.api.Email.set({ accountId, destroy: [imp.created.i1.id] });
out.destroy = del;
console.log(JSON.stringify(out));
