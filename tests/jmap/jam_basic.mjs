// jam_basic.mjs — what the jmap-jam drivers of tests/jmap share. jmap-jam (an independent
// client from the npm registry) sends "Authorization: Bearer TOKEN"; buzon takes HTTP
// Basic (RFC 7617) too, so the token is base64(user:password) and fetch is wrapped to say
// "Basic" instead of "Bearer". EventSource: Node has none, and jmap-jam's
// connectEventSource constructs one with the URL alone (a browser would add its cached
// credentials), so a small one on fetch (text/event-stream, RFC 8620 §7.3) stands in.
import { JamClient } from "jmap-jam";

export function basicJam(sessionUrl, user, password) {
  const token = Buffer.from(`${user}:${password}`).toString("base64");
  const realFetch = globalThis.fetch;
  globalThis.fetch = (url, init = {}) => {
    const headers = { ...(init.headers ?? {}) };
    if (typeof headers.Authorization === "string")
      headers.Authorization = headers.Authorization.replace(/^Bearer /, "Basic ");
    return realFetch(url, { ...init, headers });
  };
  globalThis.EventSource = class {
    constructor(url) {
      this.listeners = {};
      this.abort = new AbortController();
      this.done = realFetch(url, { headers: { Authorization: `Basic ${token}`,
        Accept: "text/event-stream" }, signal: this.abort.signal })
        .then((r) => {
          this.opened = r.ok;	/* the server answers once it has subscribed */
          for (const fn of this.listeners[r.ok ? "open" : "error"] ?? []) fn({});
          return this.read(r);
        }).catch(() => {});
    }
    addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
    close() { this.abort.abort(); }
    async read(r) {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of r.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const ev = { type: "message", data: [] };
          for (const line of buf.slice(0, i).split("\n")) {
            if (line.startsWith("event:")) ev.type = line.slice(6).trim();
            else if (line.startsWith("data:")) ev.data.push(line.slice(5).replace(/^ /, ""));
          }
          buf = buf.slice(i + 2);
          for (const fn of this.listeners[ev.type] ?? [])
            fn({ type: ev.type, data: ev.data.join("\n") });
        }
      }
    }
  };
  return new JamClient({ sessionUrl, bearerToken: token });
}
