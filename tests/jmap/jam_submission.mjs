// jam_submission.mjs — jmap-jam (tests/jmap/package.json) sends an Email and sets the
// vacation through buzon, for tests/jmap/t_submission.py. Usage:
//   node jam_submission.mjs SESSION_URL USER PASSWORD EMAIL_ID
// jmap-jam derives "using" from the method names (Identity and EmailSubmission:
// urn:ietf:params:jmap:submission, VacationResponse: ...:vacationresponse). Prints one
// JSON object with what the client saw. Basic instead of Bearer as in jam.mjs.
import { basicJam } from "./jam_basic.mjs";

const [sessionUrl, user, password, emailId] = process.argv.slice(2);

const out = {};
const jam = basicJam(sessionUrl, user, password);
const session = await jam.session;
out.capabilities = Object.keys(session.capabilities);
const accountId = await jam.getPrimaryAccount();
const [identities] = await jam.api.Identity.get({ accountId });
out.identities = identities.list;
const [{ sub, got }] = await jam.requestMany((t) => {
  const sub = t.EmailSubmission.set({
    accountId,
    create: { s1: { identityId: identities.list[0].id, emailId } },
  });
  const q = t.EmailSubmission.query({ accountId, filter: { emailIds: [emailId] } });
  const got = t.EmailSubmission.get({ accountId, ids: q.$ref("/ids") });
  return { sub, q, got };
});
out.submission = sub;
out.got = got;
const [vs] = await jam.api.VacationResponse.set({
  accountId,
  update: { singleton: { isEnabled: true, textBody: "jam was here" } },
});
out.vacationSet = vs;
const [vg] = await jam.api.VacationResponse.get({ accountId });
out.vacation = vg.list[0];
console.log(JSON.stringify(out));
