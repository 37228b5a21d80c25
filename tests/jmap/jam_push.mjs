// jam_push.mjs — jmap-jam's connectEventSource (RFC 8620 §7.3) against buzon for
// tests/jmap/t_push.py: prints "ready" once the stream is open, then the first StateChange
// it is sent as one JSON line, and exits. Usage: node jam_push.mjs SESSION_URL USER PASSWORD
import { basicJam } from "./jam_basic.mjs";

const [sessionUrl, user, password] = process.argv.slice(2);
const jam = basicJam(sessionUrl, user, password);
await jam.session;
const es = await jam.connectEventSource({ types: "*", closeafter: "no", ping: 0 });
const timer = setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(1); },
  20000);
es.addEventListener("state", (ev) => {
  clearTimeout(timer);
  console.log(JSON.stringify({ state: JSON.parse(ev.data) }));
  es.close();
  process.exit(0);
});
// the server sends nothing until a change: say when the stream is open
if (es.opened) console.log("ready");
else es.addEventListener("open", () => console.log("ready"));
