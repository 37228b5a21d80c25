/*
 * buzon webmail (docs/webmail.md): a JMAP client (RFC 8620, RFC 8621) in plain JS.
 * The credentials live in this page's memory only and go out as an Authorization
 * header on fetch() with credentials 'omit' (no cookies, no browser password prompt).
 * Message HTML is parsed with DOMParser, reduced to an allowlist and shown in a
 * sandboxed frame without scripts, whose own policy blocks remote content until the
 * reader asks for it. Nothing from a message is ever inserted into this page as markup.
 */
'use strict';

const CORE = 'urn:ietf:params:jmap:core';
const MAIL = 'urn:ietf:params:jmap:mail';
const SUBMISSION = 'urn:ietf:params:jmap:submission';
const VACATION = 'urn:ietf:params:jmap:vacationresponse';
const SIEVE = 'urn:ietf:params:jmap:sieve';
const PAGE = 50;
const ROLE_ORDER = ['inbox', 'drafts', 'sent', 'archive', 'junk', 'trash'];

const S = {
	auth: null, user: '', session: null, accountId: null, caps: {},
	mailboxes: [], byId: new Map(), byRole: {}, current: null, search: '',
	list: [], position: 0, total: 0, openId: null, collapse: true,
	identities: [], compose: null, stream: null, refreshTimer: null, pollTimer: null,
};

const $ = (id) => document.getElementById(id);

/* An element with attributes and children; text is always text, never markup. */
function h(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else if (k === 'dataset') Object.assign(e.dataset, v);
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const k of kids.flat()) {
		if (k === null || k === undefined || k === false) continue;
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return e;
}

function status(text) { $('status').textContent = text || ''; }

class JmapError extends Error {
	constructor(type, desc) { super(desc ? type + ': ' + desc : type); this.type = type; }
}

/* ---------- transport ---------- */

async function http(url, opts = {}) {
	const headers = Object.assign({ Authorization: S.auth }, opts.headers || {});
	const r = await fetch(url, Object.assign({}, opts, { headers, credentials: 'omit',
		cache: 'no-store', referrerPolicy: 'no-referrer' }));
	if (r.status === 401) throw new JmapError('unauthorized', 'wrong user name or password');
	return r;
}

function using() {
	const u = [CORE, MAIL];
	if (S.caps[SUBMISSION]) u.push(SUBMISSION);
	if (S.caps[VACATION]) u.push(VACATION);
	if (S.caps[SIEVE]) u.push(SIEVE);
	return u;
}

/* One API request; returns the responses by call id ([name, args]). */
async function api(calls) {
	const r = await http(S.session.apiUrl, {
		method: 'POST', headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ using: using(), methodCalls: calls }),
	});
	if (!r.ok) {
		let p = {};
		try { p = await r.json(); } catch (e) { /* not problem details */ }
		throw new JmapError(p.type || 'http' + r.status, p.detail || r.statusText);
	}
	const body = await r.json();
	const out = {};
	/* a call may have more responses (RFC 8621 §7.5: the implicit Email/set of
	 * EmailSubmission/set has its call id): the first is the call's own */
	for (const [name, args, id] of body.methodResponses) if (!(id in out)) out[id] = [name, args];
	return out;
}

/* The arguments of a call's response, or a JmapError for a method-level error. */
function ok(res, id) {
	const r = res[id];
	if (!r) throw new JmapError('serverFail', 'no response to ' + id);
	if (r[0] === 'error') throw new JmapError(r[1].type, r[1].description);
	return r[1];
}

/* An RFC 6570 level 1 template of the session (before URL parsing, which would escape
 * the braces), made absolute. */
function tmpl(url, vals) {
	return abs(url.replace(/\{(\w+)\}/g, (m, k) => encodeURIComponent(vals[k] ?? '')));
}

function abs(url) { return new URL(url, location.href).href; }

/* ---------- login ---------- */

async function login(ev) {
	ev.preventDefault();
	const user = $('login-user').value, pass = $('login-pass').value;
	$('login-error').textContent = '';
	const bytes = new TextEncoder().encode(user + ':' + pass);
	let bin = '';
	for (const b of bytes) bin += String.fromCharCode(b);
	S.auth = 'Basic ' + btoa(bin);
	S.user = user;
	try {
		const r = await http(abs('/.well-known/jmap'));
		if (!r.ok) throw new JmapError('http' + r.status, r.statusText);
		const s = await r.json();
		s.apiUrl = abs(s.apiUrl);
		S.session = s;
		S.caps = s.capabilities || {};
		S.accountId = (s.primaryAccounts || {})[MAIL] || Object.keys(s.accounts || {})[0];
		if (!S.accountId) throw new JmapError('noAccount', 'the session has no mail account');
	} catch (e) {
		S.auth = null;
		$('login-error').textContent = e.type === 'unauthorized' ? 'Wrong user name or password' :
			'Login failed: ' + e.message;
		return;
	}
	$('login-pass').value = '';
	$('login').hidden = true;
	$('app').hidden = false;
	if (!S.caps[SIEVE]) {
		$('filters-btn').title = 'Filters are not available on this server';
		$('filters-btn').classList.add('unavailable');
	}
	document.title = user + ' - buzon mail';
	await loadIdentities();
	await refreshMailboxes();
	const inbox = S.byRole.inbox || S.mailboxes[0];
	if (inbox) await openMailbox(inbox.id);
	startPush();
}

function logout() {
	S.auth = null;
	if (S.stream) S.stream.abort();
	location.replace(location.pathname);
}

async function loadIdentities() {
	S.identities = [];
	if (S.caps[SUBMISSION]) {
		try {
			const res = await api([['Identity/get', { accountId: S.accountId }, 'i']]);
			S.identities = ok(res, 'i').list;
		} catch (e) { /* no Identity/get yet: the user name */ }
	}
	if (S.identities.length === 0)
		S.identities = [{ id: null, name: '', email: S.user.includes('@') ? S.user : S.user }];
}

/* ---------- folders ---------- */

async function refreshMailboxes() {
	const res = await api([['Mailbox/get', { accountId: S.accountId, ids: null }, 'm']]);
	const list = ok(res, 'm').list;
	S.byId = new Map(list.map((m) => [m.id, m]));
	S.byRole = {};
	for (const m of list) if (m.role) S.byRole[m.role] = m;
	const depth = (m) => { let d = 0; for (let p = m; p.parentId && S.byId.has(p.parentId) && d < 20; p = S.byId.get(p.parentId)) d++; return d; };
	const path = (m) => { const a = []; for (let p = m, i = 0; p && i < 20; p = S.byId.get(p.parentId), i++) a.unshift(p); return a; };
	const key = (m) => { const r = ROLE_ORDER.indexOf(m.role); return [r < 0 ? 99 : r, m.sortOrder || 0, m.name.toLowerCase()]; };
	const cmp = (a, b) => {
		const pa = path(a), pb = path(b);
		for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
			if (pa[i] === pb[i]) continue;
			const ka = key(pa[i]), kb = key(pb[i]);
			for (let j = 0; j < 3; j++) if (ka[j] !== kb[j]) return ka[j] < kb[j] ? -1 : 1;
		}
		return pa.length - pb.length;
	};
	S.mailboxes = list.slice().sort(cmp);
	const nav = $('folders');
	nav.replaceChildren(...S.mailboxes.map((m) => h('a', {
		href: '#', class: m.id === S.current ? 'current' : null,
		dataset: { id: m.id, role: m.role || '' },
		onclick: (e) => { e.preventDefault(); $('search').value = ''; openMailbox(m.id); },
	}, h('span', { class: 'name' }, '\u00a0'.repeat(2 * depth(m)) + m.name),
	m.unreadEmails > 0 ? h('span', { class: 'count' }, m.unreadEmails) : null)));
}

/* ---------- message list ---------- */

async function openMailbox(id) {
	status('');
	S.current = id;
	S.search = '';
	S.position = 0;
	document.body.dataset.view = 'list';
	for (const a of $('folders').querySelectorAll('a')) a.classList.toggle('current', a.dataset.id === id);
	await loadList(false);
}

function listFilter() {
	if (S.search) return S.current && !S.searchAll ? { inMailbox: S.current, text: S.search } : { text: S.search };
	return { inMailbox: S.current };
}

const LIST_PROPS = ['id', 'threadId', 'mailboxIds', 'keywords', 'from', 'to', 'subject',
	'receivedAt', 'preview', 'size'];

async function queryList(collapse, position) {
	const q = { accountId: S.accountId, filter: listFilter(),
		sort: [{ property: 'receivedAt', isAscending: false }], position, limit: PAGE,
		calculateTotal: true };
	if (collapse) q.collapseThreads = true;
	const calls = [['Email/query', q, 'q'],
		['Email/get', { accountId: S.accountId, '#ids': { resultOf: 'q', name: 'Email/query', path: '/ids' },
			properties: LIST_PROPS }, 'g']];
	if (collapse)
		calls.push(['Thread/get', { accountId: S.accountId,
			'#ids': { resultOf: 'g', name: 'Email/get', path: '/list/*/threadId' } }, 't']);
	const res = await api(calls);
	const qr = ok(res, 'q');
	const emails = ok(res, 'g').list;
	const threads = new Map();
	if (collapse && res.t && res.t[0] === 'Thread/get')
		for (const t of res.t[1].list) threads.set(t.id, t.emailIds.length);
	const byId = new Map(emails.map((e) => [e.id, e]));
	return { total: qr.total, ids: qr.ids, list: qr.ids.map((i) => byId.get(i)).filter(Boolean), threads };
}

async function loadList(more) {
	const title = S.search ? 'Search: ' + S.search : (S.byId.get(S.current) || {}).name || '';
	$('list-title').textContent = title;
	let r;
	try {
		try {
			r = await queryList(S.collapse, more ? S.position : 0);
		} catch (e) {
			if (!S.collapse || (e.type !== 'unsupportedFilter' && e.type !== 'invalidArguments' &&
			    e.type !== 'unsupportedSort')) throw e;
			S.collapse = false;	/* the server does not collapse threads: one row per Email */
			r = await queryList(false, more ? S.position : 0);
		}
	} catch (e) {
		status(S.search && e.type === 'unsupportedFilter' ? 'This server cannot search yet' : 'Could not list messages: ' + e.message);
		if (!more) { S.list = []; renderList(new Map()); }
		return;
	}
	S.list = more ? S.list.concat(r.list) : r.list;
	S.position = (more ? S.position : 0) + r.ids.length;
	S.total = r.total;
	S.threads = new Map([...(more && S.threads ? S.threads : []), ...r.threads]);
	renderList(S.threads);
}

function fmtDate(iso) {
	if (!iso) return '';
	const d = new Date(iso), now = new Date();
	return d.toDateString() === now.toDateString() ?
		d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) :
		d.toLocaleDateString([], { year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric', month: 'short', day: 'numeric' });
}

function addrText(list) {
	return (list || []).map((a) => a.name || a.email).join(', ');
}

function addrFull(list) {
	return (list || []).map((a) => a.name ? `${a.name} <${a.email}>` : a.email).join(', ');
}

function renderList(threads) {
	const inSent = S.current && [S.byRole.sent, S.byRole.drafts].some((m) => m && m.id === S.current);
	$('list').replaceChildren(...S.list.map((e) => {
		const kw = e.keywords || {};
		const n = threads.get(e.threadId) || 1;
		return h('li', {
			class: [kw.$seen ? '' : 'unread', e.id === S.openId ? 'current' : ''].join(' ').trim() || null,
			dataset: { id: e.id }, tabindex: 0,
			onclick: () => openEmail(e),
			onkeydown: (ev) => { if (ev.key === 'Enter') openEmail(e); },
		}, h('div', { class: 'row' },
			h('span', { class: 'from' }, inSent ? 'To: ' + addrText(e.to) : addrText(e.from) || '(unknown)',
				n > 1 ? h('span', { class: 'threadcount' }, '(' + n + ')') : null),
			h('span', { class: 'date' }, kw.$flagged ? h('span', { class: 'flag', title: 'Flagged' }, '\u2605 ') : null,
				fmtDate(e.receivedAt))),
		h('div', { class: 'subj' }, e.subject || '(no subject)'),
		h('div', { class: 'preview' }, e.preview || ''));
	}));
	$('more').hidden = !(S.total > S.list.length);
	if (S.list.length === 0) $('list').append(h('li', { class: 'empty' }, 'No messages'));
}

/* ---------- reading ---------- */

const READ_PROPS = ['id', 'blobId', 'threadId', 'mailboxIds', 'keywords', 'from', 'to', 'cc',
	'replyTo', 'subject', 'sentAt', 'receivedAt', 'messageId', 'inReplyTo', 'references',
	'textBody', 'htmlBody', 'attachments', 'bodyValues', 'preview'];
const BASIC_PROPS = ['id', 'blobId', 'threadId', 'mailboxIds', 'keywords', 'from', 'to', 'cc',
	'subject', 'sentAt', 'receivedAt'];

/* Emails with their bodies; without the body properties (an older server) the raw
 * message is downloaded and its MIME structure read here. */
async function getEmails(ids) {
	try {
		const res = await api([['Email/get', { accountId: S.accountId, ids, properties: READ_PROPS,
			fetchHTMLBodyValues: true, fetchTextBodyValues: true, maxBodyValueBytes: 2000000 }, 'g']]);
		return ok(res, 'g').list;
	} catch (e) {
		if (e.type !== 'invalidArguments') throw e;
	}
	const res = await api([['Email/get', { accountId: S.accountId, ids, properties: BASIC_PROPS }, 'g']]);
	const list = ok(res, 'g').list;
	for (const e of list) {
		const r = await http(tmpl(S.session.downloadUrl, { accountId: S.accountId, blobId: e.blobId,
			name: 'message.eml', type: 'message/rfc822' }));
		Object.assign(e, mimeToBodies(new Uint8Array(await r.arrayBuffer())));
	}
	return list;
}

async function openEmail(e, markSeen = true) {
	if (S.byRole.drafts && e.mailboxIds && e.mailboxIds[S.byRole.drafts.id] && (e.keywords || {}).$draft) {
		const [full] = await getEmails([e.id]);
		if (full) return openCompose('draft', full);
	}
	S.openId = e.id;
	for (const li of $('list').children) li.classList.toggle('current', li.dataset.id === e.id);
	document.body.dataset.view = 'read';
	let ids = [e.id];
	if (S.collapse && e.threadId) {
		try {
			const res = await api([['Thread/get', { accountId: S.accountId, ids: [e.threadId] }, 't']]);
			const t = ok(res, 't').list[0];
			if (t && t.emailIds.length > 1) ids = t.emailIds.slice(-20);
		} catch (err) { /* no threads: the message alone */ }
	}
	let emails;
	try {
		emails = await getEmails(ids);
	} catch (err) {
		status('Could not open the message: ' + err.message);
		return;
	}
	const body = $('reader-body');
	body.replaceChildren();
	emails.sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : 1));
	for (const m of emails) body.append(renderEmail(m, m.id === e.id || emails.length === 1));
	const unseen = emails.filter((m) => !(m.keywords || {}).$seen).map((m) => m.id);
	if (markSeen && unseen.length) setKeyword(unseen, '$seen', true, true);
}

function renderEmail(m, open) {
	const kw = m.keywords || {};
	const box = h('article', { class: 'msg', dataset: { id: m.id } });
	const content = h('div', { class: 'content' });
	const moveSel = h('select', { 'aria-label': 'Move to', class: 'move',
		onchange: (ev) => { if (ev.target.value) moveEmails([m.id], ev.target.value); } },
	h('option', { value: '' }, 'Move to\u2026'),
	S.mailboxes.filter((b) => !(m.mailboxIds || {})[b.id]).map((b) => h('option', { value: b.id }, b.name)));
	box.append(
		h('h3', { onclick: () => { content.hidden = !content.hidden; } }, m.subject || '(no subject)'),
		h('div', { class: 'meta' }, h('div', {}, 'From: ' + addrFull(m.from)),
			h('div', {}, 'To: ' + addrFull(m.to)),
			m.cc && m.cc.length ? h('div', {}, 'Cc: ' + addrFull(m.cc)) : null,
			h('div', {}, new Date(m.sentAt || m.receivedAt).toLocaleString())),
		h('div', { class: 'tools' },
			h('button', { type: 'button', class: 'reply', onclick: () => openCompose('reply', m) }, 'Reply'),
			h('button', { type: 'button', class: 'replyall', onclick: () => openCompose('replyAll', m) }, 'Reply all'),
			h('button', { type: 'button', class: 'forward', onclick: () => openCompose('forward', m) }, 'Forward'),
			h('button', { type: 'button', class: 'flag', onclick: () => setKeyword([m.id], '$flagged', !kw.$flagged) },
				kw.$flagged ? 'Unflag' : 'Flag'),
			h('button', { type: 'button', class: 'unread', onclick: () => setKeyword([m.id], '$seen', false) }, 'Mark unread'),
			moveSel,
			h('button', { type: 'button', class: 'delete', onclick: () => deleteEmails([m.id]) }, 'Delete')));
	box.append(content);
	renderBody(m, content, false);
	const atts = (m.attachments || []).filter((a) => a.blobId);
	if (atts.length)
		box.append(h('ul', { class: 'attachments' }, atts.map((a) => h('li', {}, h('a', {
			href: '#', class: 'download',
			onclick: (ev) => { ev.preventDefault(); download(a); },
		}, (a.name || 'attachment') + ' (' + size(a.size) + ')')))));
	if (!open) content.hidden = true;
	return box;
}

function size(n) {
	if (!n && n !== 0) return '?';
	return n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
}

function partText(m, parts) {
	return (parts || []).map((p) => ((m.bodyValues || {})[p.partId] || {}).value || '').join('\n');
}

async function renderBody(m, el, remote) {
	const html = (m.htmlBody || []).some((p) => p.type === 'text/html');
	el.replaceChildren();
	if (!html) {
		el.append(h('div', { class: 'text' }, partText(m, m.textBody)));
		return;
	}
	const clean = sanitize(partText(m, (m.htmlBody || []).filter((p) => p.type === 'text/html')), remote);
	if (clean.remote > 0 && !remote)
		el.append(h('div', { class: 'remote' }, 'Remote content was blocked.',
			h('button', { type: 'button', class: 'load-remote', onclick: () => renderBody(m, el, true) },
				'Load remote images')));
	await inlineImages(m, clean.doc);
	el.append(readerFrame(clean.doc, remote));
}

/* cid: images of the message become blob: URLs of its parts */
async function inlineImages(m, doc) {
	const parts = new Map();
	for (const p of (m.attachments || []).concat(m.htmlBody || [])) if (p.cid && p.blobId) parts.set(p.cid.replace(/^<|>$/g, ''), p);
	for (const img of doc.querySelectorAll('img[data-cid]')) {
		const p = parts.get(img.dataset.cid);
		img.removeAttribute('data-cid');
		if (!p) continue;
		try {
			const r = await http(tmpl(S.session.downloadUrl, { accountId: S.accountId, blobId: p.blobId,
				name: p.name || 'image', type: p.type || 'application/octet-stream' }));
			if (r.ok && /^image\/(png|gif|jpeg|webp)$/.test(p.type || ''))
				img.setAttribute('src', URL.createObjectURL(new Blob([await r.arrayBuffer()], { type: p.type })));
		} catch (e) { /* left out */ }
	}
}

/* The sandboxed reader: no scripts, an opaque origin, its own policy. */
function readerFrame(doc, remote) {
	const img = remote ? "data: blob: https: http:" : "data: blob:";
	const csp = `default-src 'none'; img-src ${img}; style-src 'unsafe-inline'; font-src data:; ` +
		"form-action 'none'; base-uri 'none'";
	const head = '<!doctype html><html><head><meta charset="utf-8">' +
		`<meta http-equiv="Content-Security-Policy" content="${csp}">` +
		'<meta name="referrer" content="no-referrer">' +
		'<style>body{font:15px/1.45 system-ui,sans-serif;margin:8px;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>' +
		'</head><body>';
	const f = h('iframe', {
		sandbox: 'allow-popups allow-popups-to-escape-sandbox',
		referrerpolicy: 'no-referrer', title: 'Message', class: 'reader-frame',
	});
	f.srcdoc = head + doc.body.innerHTML + '</body></html>';
	return f;
}

/* ---------- the sanitizer ---------- */

const KEEP = new Set(['a', 'abbr', 'address', 'article', 'aside', 'b', 'bdi', 'bdo', 'big', 'blockquote',
	'br', 'caption', 'center', 'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'details', 'dfn', 'div',
	'dl', 'dt', 'em', 'figcaption', 'figure', 'font', 'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
	'header', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'main', 'mark', 'nav', 'ol', 'p', 'pre', 'q', 's',
	'samp', 'section', 'small', 'span', 'strike', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody',
	'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr', 'style']);
/* dropped with everything inside */
const DROP = new Set(['script', 'noscript', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed',
	'applet', 'form', 'input', 'button', 'select', 'option', 'textarea', 'link', 'meta', 'base', 'title',
	'svg', 'math', 'video', 'audio', 'source', 'track', 'canvas', 'map', 'area', 'portal', 'dialog',
	'head', 'xmp', 'plaintext', 'noembed', 'noframes', 'param', 'slot']);
const ATTRS = new Set(['align', 'alt', 'bgcolor', 'border', 'cellpadding', 'cellspacing', 'class', 'color',
	'cols', 'colspan', 'dir', 'face', 'height', 'hspace', 'lang', 'rowspan', 'size', 'span', 'start',
	'style', 'summary', 'title', 'type', 'valign', 'vspace', 'width', 'datetime', 'abbr', 'scope',
	'href', 'src', 'open', 'reversed', 'nowrap']);

/* CSS that could fetch something or hide an escape: url(), image-set, @import, escapes */
function badCss(s) {
	return /url\s*\(|image-set|@import|expression\s*\(|behavior|-moz-binding|\\|src\s*:/i.test(s);
}

/* Returns { doc, remote }: a document holding only allowed markup, and how many remote
 * references it had (kept in the document only when remote is true). */
function sanitize(html, remote) {
	const src = new DOMParser().parseFromString(html, 'text/html');
	let count = 0;
	const walk = (node) => {
		for (const child of Array.from(node.childNodes)) {
			if (child.nodeType === Node.TEXT_NODE) continue;
			if (child.nodeType !== Node.ELEMENT_NODE) { child.remove(); continue; }
			const tag = child.localName;
			if (child.namespaceURI !== 'http://www.w3.org/1999/xhtml' || DROP.has(tag)) { child.remove(); continue; }
			if (!KEEP.has(tag)) {	/* unknown: its content stays, the element goes */
				walk(child);
				child.replaceWith(...Array.from(child.childNodes));
				continue;
			}
			if (tag === 'style') {
				if (badCss(child.textContent)) child.remove();
				else child.replaceChildren(document.createTextNode(child.textContent));
				continue;
			}
			for (const a of Array.from(child.attributes)) {
				const name = a.name.toLowerCase(), v = a.value.trim();
				if (!ATTRS.has(name) || a.namespaceURI) { child.removeAttribute(a.name); continue; }
				if (name === 'style' && badCss(v)) child.removeAttribute(a.name);
				if (name === 'href') {
					if (tag !== 'a' || !/^(https?:|mailto:)/i.test(v)) child.removeAttribute(a.name);
				}
				if (name === 'src') {
					child.removeAttribute(a.name);
					if (tag !== 'img') continue;
					if (/^cid:/i.test(v)) child.dataset.cid = decodeURIComponent(v.slice(4));
					else if (/^data:image\/(png|gif|jpeg|webp);/i.test(v)) child.setAttribute('src', v);
					else if (/^https?:/i.test(v)) {
						count++;
						if (remote) child.setAttribute('src', v);
						else child.setAttribute('alt', child.getAttribute('alt') || '[remote image]');
					}
				}
			}
			if (tag === 'a' && child.hasAttribute('href')) {
				child.setAttribute('target', '_blank');
				child.setAttribute('rel', 'noopener noreferrer');
			}
			walk(child);
		}
	};
	/* <style> from the head goes into the body; everything else of the head is dropped */
	const out = document.implementation.createHTMLDocument('');
	for (const st of Array.from(src.head.querySelectorAll('style'))) src.body.prepend(st);
	walk(src.body);
	for (const c of Array.from(src.body.childNodes)) out.body.append(out.importNode(c, true));
	for (const a of Array.from(src.body.attributes)) if (a.name === 'bgcolor') out.body.setAttribute('bgcolor', a.value);
	return { doc: out, remote: count };
}

/* ---------- a small MIME reader (servers without the Email/get body properties) ---------- */

function latin1(bytes) { let s = ''; for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192)); return s; }

function parseHeaders(text) {
	const hs = {};
	for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
		const i = line.indexOf(':');
		if (i > 0) { const k = line.slice(0, i).trim().toLowerCase(); if (!(k in hs)) hs[k] = line.slice(i + 1).trim(); }
	}
	return hs;
}

function param(v, name) {
	const m = new RegExp(';\\s*' + name + '\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))', 'i').exec(v || '');
	return m ? (m[1] ?? m[2]) : null;
}

function decodeBody(raw, enc, charset) {
	let bytes;
	enc = (enc || '').toLowerCase();
	if (enc === 'base64') {
		const b = atob(raw.replace(/[^A-Za-z0-9+/]/g, ''));
		bytes = Uint8Array.from(b, (c) => c.charCodeAt(0));
	} else if (enc === 'quoted-printable') {
		const s = raw.replace(/=\r?\n/g, '');
		const out = [];
		for (let i = 0; i < s.length; i++) {
			if (s[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(s.substr(i + 1, 2))) { out.push(parseInt(s.substr(i + 1, 2), 16)); i += 2; } else out.push(s.charCodeAt(i) & 255);
		}
		bytes = Uint8Array.from(out);
	} else bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0) & 255);
	try { return new TextDecoder(charset || 'utf-8').decode(bytes); } catch (e) { return new TextDecoder('utf-8').decode(bytes); }
}

function mimeToBodies(bytes) {
	const text = [], html = [];
	const walk = (raw, depth) => {
		const sep = raw.search(/\r?\n\r?\n/);
		const hs = parseHeaders(sep < 0 ? raw : raw.slice(0, sep));
		const body = sep < 0 ? '' : raw.slice(sep).replace(/^\r?\n\r?\n/, '');
		const ct = (hs['content-type'] || 'text/plain').toLowerCase();
		const type = ct.split(';')[0].trim();
		if (type.startsWith('multipart/') && depth < 10) {
			const b = param(hs['content-type'], 'boundary');
			if (!b) return;
			const parts = body.split('--' + b);
			for (const p of parts.slice(1)) { if (p.startsWith('--')) break; walk(p.replace(/^\r?\n/, ''), depth + 1); }
			return;
		}
		if (/attachment/i.test(hs['content-disposition'] || '')) return;
		const v = decodeBody(body, hs['content-transfer-encoding'], param(hs['content-type'], 'charset'));
		if (type === 'text/html') html.push(v);
		else if (type === 'text/plain') text.push(v);
	};
	const raw = latin1(bytes);
	const top = parseHeaders(raw.slice(0, Math.max(0, raw.search(/\r?\n\r?\n/))));
	const ids = (v) => (v || '').match(/<[^<>\s]+>/g)?.map((x) => x.slice(1, -1)) || null;
	walk(raw, 0);
	const bodyValues = {};
	const textBody = text.map((v, i) => { bodyValues['t' + i] = { value: v }; return { partId: 't' + i, type: 'text/plain' }; });
	const htmlBody = html.map((v, i) => { bodyValues['h' + i] = { value: v }; return { partId: 'h' + i, type: 'text/html' }; });
	return { textBody, htmlBody: htmlBody.length ? htmlBody : textBody, bodyValues, attachments: [],
		messageId: ids(top['message-id']), inReplyTo: ids(top['in-reply-to']), references: ids(top.references) };
}

/* ---------- actions ---------- */

async function setKeyword(ids, kw, on, quiet) {
	const update = {};
	for (const id of ids) update[id] = { ['keywords/' + kw]: on ? true : null };
	try {
		const res = await api([['Email/set', { accountId: S.accountId, update }, 's']]);
		const r = ok(res, 's');
		if (r.notUpdated && Object.keys(r.notUpdated).length) throw new JmapError(Object.values(r.notUpdated)[0].type);
	} catch (e) {
		if (!quiet) status('Could not change the message: ' + e.message);
		return;
	}
	await refresh(!quiet);
}

async function moveEmails(ids, to) {
	const update = {};
	for (const id of ids) update[id] = { mailboxIds: { [to]: true } };
	try {
		const res = await api([['Email/set', { accountId: S.accountId, update }, 's']]);
		const r = ok(res, 's');
		if (r.notUpdated && Object.keys(r.notUpdated).length) throw new JmapError(Object.values(r.notUpdated)[0].type);
	} catch (e) {
		status('Could not move: ' + e.message);
		return;
	}
	closeReader();
	await refresh(false);
	status('Moved to ' + (S.byId.get(to) || {}).name);
}

async function deleteEmails(ids) {
	const trash = S.byRole.trash;
	if (trash && S.current !== trash.id) return moveEmails(ids, trash.id);
	try {
		const res = await api([['Email/set', { accountId: S.accountId, destroy: ids }, 's']]);
		const r = ok(res, 's');
		if (r.notDestroyed && Object.keys(r.notDestroyed).length) throw new JmapError(Object.values(r.notDestroyed)[0].type);
	} catch (e) {
		status('Could not delete: ' + e.message);
		return;
	}
	closeReader();
	await refresh(false);
	status('Deleted');
}

function closeReader() {
	S.openId = null;
	$('reader-body').replaceChildren(h('p', { class: 'empty' }, 'No message selected'));
	document.body.dataset.view = 'list';
}

async function refresh(reopen) {
	try {
		await refreshMailboxes();
		if (S.current || S.search) await loadList(false);
	} catch (e) { status('Refresh failed: ' + e.message); }
	if (reopen && S.openId) {
		const e = S.list.find((x) => x.id === S.openId);
		if (e) await openEmail(e, false);
	}
}

async function download(a) {
	try {
		const r = await http(tmpl(S.session.downloadUrl, { accountId: S.accountId, blobId: a.blobId,
			name: a.name || 'attachment', type: a.type || 'application/octet-stream' }));
		if (!r.ok) throw new JmapError('http' + r.status);
		const url = URL.createObjectURL(new Blob([await r.arrayBuffer()], { type: 'application/octet-stream' }));
		const link = h('a', { href: url, download: a.name || 'attachment' });
		document.body.append(link);
		link.click();
		link.remove();
		setTimeout(() => URL.revokeObjectURL(url), 60000);
	} catch (e) { status('Download failed: ' + e.message); }
}

/* ---------- compose ---------- */

function parseAddrs(s) {
	const out = [];
	for (const part of s.split(/[,;](?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
		const t = part.trim();
		if (!t) continue;
		const m = /^(.*)<([^<>\s]+@[^<>\s]+)>$/.exec(t);
		if (m) out.push({ name: m[1].trim().replace(/^"|"$/g, '') || null, email: m[2] });
		else out.push({ name: null, email: t });
	}
	return out;
}

function quote(m) {
	const text = partText(m, m.textBody) || (m.preview || '');
	return `\n\nOn ${new Date(m.sentAt || m.receivedAt).toLocaleString()}, ${addrFull(m.from)} wrote:\n` +
		text.split('\n').map((l) => '> ' + l).join('\n');
}

function openCompose(mode, m) {
	const c = { mode, source: m || null, draftId: null, attachments: [] };
	S.compose = c;
	const me = S.identities[0] || {};
	const mine = (a) => S.identities.some((i) => i.email && a.email && i.email.toLowerCase() === a.email.toLowerCase());
	$('c-from').replaceChildren(...S.identities.map((i, n) => h('option', { value: n }, i.name ? `${i.name} <${i.email}>` : i.email)));
	let to = '', cc = '', subject = '', body = '';
	if (mode === 'reply' || mode === 'replyAll') {
		to = addrFull(m.replyTo && m.replyTo.length ? m.replyTo : m.from);
		if (mode === 'replyAll')
			cc = addrFull([].concat(m.to || [], m.cc || []).filter((a) => !mine(a) && a.email !== me.email));
		subject = /^re:/i.test(m.subject || '') ? m.subject : 'Re: ' + (m.subject || '');
		body = quote(m);
	} else if (mode === 'forward') {
		subject = 'Fwd: ' + (m.subject || '');
		body = '\n\n-------- Forwarded message --------\nFrom: ' + addrFull(m.from) + '\nSubject: ' +
			(m.subject || '') + '\n\n' + partText(m, m.textBody);
		c.attachments = (m.attachments || []).filter((a) => a.blobId).map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, size: a.size }));
	} else if (mode === 'draft') {
		c.draftId = m.id;
		to = addrFull(m.to); cc = addrFull(m.cc); subject = m.subject || '';
		body = partText(m, m.textBody);
		c.attachments = (m.attachments || []).filter((a) => a.blobId).map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, size: a.size }));
	}
	$('compose-title').textContent = { reply: 'Reply', replyAll: 'Reply all', forward: 'Forward', draft: 'Draft' }[mode] || 'New message';
	$('c-to').value = to; $('c-cc').value = cc; $('c-subject').value = subject; $('c-body').value = body;
	$('c-files').value = '';
	$('c-error').textContent = '';
	renderAttachments();
	$('compose').hidden = false;
	(to ? $('c-body') : $('c-to')).focus();
	if (mode !== 'new' && mode !== 'draft') $('c-body').setSelectionRange(0, 0);
}

function renderAttachments() {
	const c = S.compose;
	$('c-attachments').replaceChildren(...c.attachments.map((a, i) => h('li', {}, h('span', {},
		(a.name || 'attachment') + ' (' + size(a.size) + ') ',
		h('button', { type: 'button', onclick: () => { c.attachments.splice(i, 1); renderAttachments(); } }, '\u00d7')))));
}

async function upload(ev) {
	const c = S.compose;
	for (const file of ev.target.files) {
		try {
			const r = await http(tmpl(S.session.uploadUrl, { accountId: S.accountId }), {
				method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
			if (!r.ok) throw new JmapError('http' + r.status, r.statusText);
			const b = await r.json();
			c.attachments.push({ blobId: b.blobId, type: b.type || file.type, name: file.name, size: b.size });
		} catch (e) {
			$('c-error').textContent = 'Upload failed: ' + e.message;
		}
	}
	ev.target.value = '';
	renderAttachments();
}

function draftObject() {
	const c = S.compose, m = c.source, id = S.identities[Number($('c-from').value) || 0] || {};
	const drafts = S.byRole.drafts;
	const e = {
		mailboxIds: drafts ? { [drafts.id]: true } : {},
		keywords: { $draft: true, $seen: true },
		from: [{ name: id.name || null, email: id.email }],
		to: parseAddrs($('c-to').value),
		subject: $('c-subject').value,
		bodyValues: { body: { value: $('c-body').value } },
		textBody: [{ partId: 'body', type: 'text/plain' }],
	};
	const cc = parseAddrs($('c-cc').value);
	if (cc.length) e.cc = cc;
	if (m && (c.mode === 'reply' || c.mode === 'replyAll') && m.messageId) {
		e.inReplyTo = m.messageId;
		e.references = [].concat(m.references || [], m.messageId);
	}
	if (c.mode === 'draft' && m) {
		if (m.inReplyTo) e.inReplyTo = m.inReplyTo;
		if (m.references) e.references = m.references;
	}
	if (c.attachments.length)
		e.attachments = c.attachments.map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, disposition: 'attachment' }));
	return e;
}

async function saveDraft() {
	const c = S.compose;
	const set = { accountId: S.accountId, create: { draft: draftObject() } };
	if (c.draftId) set.destroy = [c.draftId];
	try {
		const res = await api([['Email/set', set, 's']]);
		const r = ok(res, 's');
		if (!r.created || !r.created.draft) throw new JmapError(((r.notCreated || {}).draft || {}).type || 'notCreated', ((r.notCreated || {}).draft || {}).description);
		c.draftId = r.created.draft.id;
		status('Draft saved');
	} catch (e) {
		$('c-error').textContent = 'Could not save the draft: ' + e.message;
	}
}

async function send(ev) {
	ev.preventDefault();
	const c = S.compose;
	const e = draftObject();
	if (e.to.length === 0 && !e.cc) { $('c-error').textContent = 'Who is it for?'; return; }
	const id = S.identities[Number($('c-from').value) || 0] || {};
	const drafts = S.byRole.drafts, sent = S.byRole.sent;
	const set = { accountId: S.accountId, create: { draft: e } };
	if (c.draftId) set.destroy = [c.draftId];
	const update = { 'keywords/$draft': null };
	if (drafts) update['mailboxIds/' + drafts.id] = null;
	if (sent) update['mailboxIds/' + sent.id] = true;
	const sub = { emailId: '#draft' };
	if (id.id) sub.identityId = id.id;
	const calls = [['Email/set', set, 's'],
		['EmailSubmission/set', { accountId: S.accountId, create: { send: sub },
			onSuccessUpdateEmail: { '#send': update } }, 'u']];
	$('c-send').disabled = true;
	try {
		const res = await api(calls);
		const r = ok(res, 's');
		if (!r.created || !r.created.draft) throw new JmapError(((r.notCreated || {}).draft || {}).type || 'notCreated', ((r.notCreated || {}).draft || {}).description);
		c.draftId = r.created.draft.id;
		const u = ok(res, 'u');
		if (!u.created || !u.created.send) throw new JmapError(((u.notCreated || {}).send || {}).type || 'notSent', ((u.notCreated || {}).send || {}).description);
	} catch (err) {
		$('c-error').textContent = 'Not sent: ' + err.message + (c.draftId ? ' (kept in Drafts)' : '');
		$('c-send').disabled = false;
		return;
	}
	$('c-send').disabled = false;
	$('compose').hidden = true;
	if (c.source && (c.mode === 'reply' || c.mode === 'replyAll')) await setKeyword([c.source.id], '$answered', true, true);
	else if (c.source && c.mode === 'forward') await setKeyword([c.source.id], '$forwarded', true, true);
	else await refresh(false);
	status('Sent');
}

/* ---------- vacation ---------- */

function toLocal(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	const p = (n) => String(n).padStart(2, '0');
	return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function openVacation() {
	$('v-error').textContent = '';
	$('vacation').hidden = false;
	if (!S.caps[VACATION]) { $('v-error').textContent = 'This server does not offer vacation replies yet'; return; }
	try {
		const res = await api([['VacationResponse/get', { accountId: S.accountId, ids: ['singleton'] }, 'v']]);
		const v = ok(res, 'v').list[0] || {};
		$('v-enabled').checked = !!v.isEnabled;
		$('v-from').value = toLocal(v.fromDate);
		$('v-to').value = toLocal(v.toDate);
		$('v-subject').value = v.subject || '';
		$('v-body').value = v.textBody || '';
	} catch (e) { $('v-error').textContent = 'Could not read the vacation reply: ' + e.message; }
}

async function saveVacation(ev) {
	ev.preventDefault();
	const iso = (v) => (v ? new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z') : null);
	const v = { isEnabled: $('v-enabled').checked, fromDate: iso($('v-from').value), toDate: iso($('v-to').value),
		subject: $('v-subject').value || null, textBody: $('v-body').value || null };
	try {
		const res = await api([['VacationResponse/set', { accountId: S.accountId, update: { singleton: v } }, 'v']]);
		const r = ok(res, 'v');
		if (r.notUpdated && r.notUpdated.singleton) throw new JmapError(r.notUpdated.singleton.type, r.notUpdated.singleton.description);
	} catch (e) { $('v-error').textContent = 'Not saved: ' + e.message; return; }
	$('vacation').hidden = true;
	status(v.isEnabled ? 'Vacation reply on' : 'Vacation reply off');
}

/* ---------- filters (RFC 9661 SieveScript, RFC 5228 Sieve) ---------- */

/*
 * The rules live in one Sieve script, "webmail". Its first line is a comment holding
 * the rules as JSON; the rest is the Sieve made from them. The editor reads back only
 * that line: it never parses Sieve, so a script written by hand (ManageSieve) is
 * never taken apart, only shown as text in the advanced view.
 */
const FILTER_SCRIPT = 'webmail';
const RULES_MARK = '# buzon-webmail-rules ';
const FOLDER_SEP = '.';		/* the server's hierarchy separator (IMAP LIST) */
const RULES_MAX = 200, PARTS_MAX = 50, TEXT_MAX = 1000;

const COND_FIELDS = { from: 'From', tocc: 'To or Cc', subject: 'Subject', header: 'Header\u2026' };
const COND_OPS = { contains: 'contains', is: 'is', matches: 'matches (wildcards * ?)',
	notcontains: 'does not contain' };
const ACTIONS = { move: 'Move to folder', copy: 'Copy to folder', seen: 'Mark as read',
	flag: 'Flag', redirect: 'Forward to', redirectcopy: 'Forward a copy to',
	discard: 'Delete (discard)', stop: 'Stop processing rules' };

function newRule() {
	return { name: '', enabled: true, match: 'all',
		conds: [{ field: 'subject', header: '', op: 'contains', value: '' }],
		acts: [{ type: 'move', folder: '', address: '' }] };
}

/* A rule as the JSON line had it, reduced to what the editor knows (the line is ours,
 * but a user may have edited it over ManageSieve): unknown values become defaults. */
function cleanRule(r) {
	const str = (v) => (typeof v === 'string' ? v.slice(0, TEXT_MAX) : '');
	const pick = (v, set, d) => (Object.prototype.hasOwnProperty.call(set, v) ? v : d);
	r = r && typeof r === 'object' ? r : {};
	return {
		name: str(r.name), enabled: r.enabled !== false, match: r.match === 'any' ? 'any' : 'all',
		conds: (Array.isArray(r.conds) ? r.conds : []).slice(0, PARTS_MAX).map((c) => ({
			field: pick((c || {}).field, COND_FIELDS, 'subject'), header: str((c || {}).header),
			op: pick((c || {}).op, COND_OPS, 'contains'), value: str((c || {}).value) })),
		acts: (Array.isArray(r.acts) ? r.acts : []).slice(0, PARTS_MAX).map((a) => ({
			type: pick((a || {}).type, ACTIONS, 'move'), folder: str((a || {}).folder),
			address: str((a || {}).address) })),
	};
}

/* The rules of a script the webmail wrote, or null when its first line is not ours. */
function rulesFromScript(text) {
	const nl = text.indexOf('\n');
	const first = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
	if (!first.startsWith(RULES_MARK)) return null;
	let o;
	try { o = JSON.parse(first.slice(RULES_MARK.length)); } catch (e) { return null; }
	if (!o || o.v !== 1 || !Array.isArray(o.rules)) return null;
	return o.rules.slice(0, RULES_MAX).map(cleanRule);
}

/* An RFC 5228 §2.4.2 quoted string: only \ and " are escaped. Control characters
 * (which no header value holds after unfolding) become spaces, so a value is always
 * one line and a NUL never reaches the script. */
function sieveQuote(s) {
	return '"' + String(s).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ')
		.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/* RFC 5322 §3.6.8 field name: printable US-ASCII but the colon. */
function validHeaderName(n) { return /^[\x21-\x39\x3b-\x7e]{1,200}$/.test(n); }

function validAddress(a) { return /^[^\s@"<>()[\]\\,;:]+@[^\s@"<>()[\]\\,;:]+$/.test(a); }

/* What is wrong with the rules (the first problem, for the user), or null. */
function rulesProblem(rules) {
	if (rules.length > RULES_MAX) return 'at most ' + RULES_MAX + ' rules';
	for (let i = 0; i < rules.length; i++) {
		const r = rules[i], who = 'Rule ' + (i + 1) + (r.name ? ' (' + r.name + ')' : '') + ': ';
		if (!r.enabled) continue;
		for (const c of r.conds) {
			if (c.field === 'header' && !validHeaderName(c.header))
				return who + 'a header name is printable ASCII without spaces or ":" (' + c.header + ')';
			if (c.value === '' && c.op !== 'is') return who + 'a condition has no text';
		}
		if (r.acts.length === 0) return who + 'it has no action';
		for (const a of r.acts) {
			if ((a.type === 'move' || a.type === 'copy') && !a.folder) return who + 'choose a folder';
			if ((a.type === 'redirect' || a.type === 'redirectcopy') && !validAddress(a.address.trim()))
				return who + 'not an address: ' + a.address;
		}
	}
	return null;
}

function condSieve(c) {
	const v = sieveQuote(c.value);
	const match = { contains: ':contains', notcontains: ':contains', is: ':is', matches: ':matches' }[c.op];
	let t;
	/* From and To/Cc: "is" and "matches" compare the address, "contains" the whole field
	 * (the name too); a header of the user's choice is compared whole */
	if ((c.field === 'from' || c.field === 'tocc') && (c.op === 'is' || c.op === 'matches'))
		t = `address :all ${match} ${c.field === 'from' ? '"from"' : '["to", "cc"]'} ${v}`;
	else
		t = `header ${match} ${c.field === 'from' ? '"from"' : c.field === 'tocc' ? '["to", "cc"]' :
			c.field === 'subject' ? '"subject"' : sieveQuote(c.header)} ${v}`;
	return c.op === 'notcontains' ? 'not ' + t : t;
}

/* The order actions run in, whatever order they were listed in: flags first, so that
 * the folders and the implicit keep get them (RFC 5232 §3: the internal variable at the
 * time of the store), and stop last. */
const ACTION_ORDER = ['seen', 'flag', 'move', 'copy', 'redirect', 'redirectcopy', 'discard', 'stop'];

/* The whole script: the JSON line, then Sieve requiring only what the rules use. */
function rulesToSieve(rules) {
	const need = new Set(), body = [];
	rules.forEach((r, i) => {
		const label = '# Rule ' + (i + 1) + (r.enabled ? '' : ' (disabled)') + ': ' +
			r.name.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, ' ');
		body.push('', label);
		if (!r.enabled) return;
		const conds = r.conds.map(condSieve);
		const test = conds.length === 0 ? 'true' : conds.length === 1 ? conds[0] :
			(r.match === 'any' ? 'anyof' : 'allof') + ' (' + conds.join(',\n    ') + ')';
		body.push('if ' + test + ' {');
		const acts = r.acts.slice().sort((a, b) => ACTION_ORDER.indexOf(a.type) - ACTION_ORDER.indexOf(b.type));
		for (const a of acts) {
			switch (a.type) {
			case 'seen': need.add('imap4flags'); body.push('  addflag "\\\\Seen";'); break;
			case 'flag': need.add('imap4flags'); body.push('  addflag "\\\\Flagged";'); break;
			case 'move': need.add('fileinto'); body.push('  fileinto ' + sieveQuote(a.folder) + ';'); break;
			case 'copy': need.add('fileinto'); need.add('copy'); body.push('  fileinto :copy ' + sieveQuote(a.folder) + ';'); break;
			case 'redirect': body.push('  redirect ' + sieveQuote(a.address.trim()) + ';'); break;
			case 'redirectcopy': need.add('copy'); body.push('  redirect :copy ' + sieveQuote(a.address.trim()) + ';'); break;
			case 'discard': body.push('  discard;'); break;
			case 'stop': body.push('  stop;'); break;
			}
		}
		body.push('}');
	});
	/* JSON.stringify escapes CR, LF and every other control character: the line stays
	 * one comment line whatever the rules hold */
	const json = JSON.stringify({ v: 1, rules }).replace(/[\u2028\u2029]/g,
		(c) => '\\u' + c.charCodeAt(0).toString(16));
	const head = [RULES_MARK + json,
		'# Written by the buzon webmail from the rules on the line above (docs/webmail.md).',
		'# Edit them there: the webmail reads back only that line.'];
	if (need.size) head.push('require [' + [...need].sort().map((x) => sieveQuote(x)).join(', ') + '];');
	return head.concat(body).join('\r\n') + '\r\n';
}

/* The name a fileinto needs: the folder's full name on the server. */
function folderPath(m) {
	const a = [];
	for (let p = m, i = 0; p && i < 20; p = S.byId.get(p.parentId), i++) a.unshift(p.name);
	return a.join(FOLDER_SEP);
}

/* state: SieveScript/get's, sent back as ifInState so that a save made on a view the
 * scripts no longer match (another client changed them) fails instead of replacing */
const F = { script: null, active: null, rules: [], foreign: false, state: null };

function fStatus(text, error) {
	$('f-error').textContent = error ? text : '';
	$('f-msg').textContent = error ? '' : text;
}

/* SieveScript/get of every script: F.script ("webmail"), F.active, F.state. */
async function sieveLoad() {
	const res = await api([['SieveScript/get', { accountId: sieveAccount(), ids: null }, 'g']]);
	const r = ok(res, 'g');
	F.script = r.list.find((s) => s.name === FILTER_SCRIPT) || null;
	F.active = r.list.find((s) => s.isActive) || null;
	F.state = r.state || null;
}

function sieveAccount() {
	return ((S.session || {}).primaryAccounts || {})[SIEVE] || S.accountId;
}

async function downloadText(blobId, name) {
	const r = await http(tmpl(S.session.downloadUrl, { accountId: sieveAccount(), blobId,
		name: name || 'script.sieve', type: 'application/sieve' }));
	if (!r.ok) throw new JmapError('http' + r.status, 'could not download the script');
	return r.text();
}

async function uploadText(text) {
	const r = await http(tmpl(S.session.uploadUrl, { accountId: sieveAccount() }), {
		method: 'POST', headers: { 'Content-Type': 'application/sieve' },
		body: new TextEncoder().encode(text) });
	if (!r.ok) throw new JmapError('http' + r.status, 'the upload was refused');
	return (await r.json()).blobId;
}

/* Upload and SieveScript/validate: the blobId, or a JmapError with the server's
 * description of what is wrong. */
async function uploadValid(text) {
	const caps = (((S.session.accounts || {})[sieveAccount()] || {}).accountCapabilities || {})[SIEVE] || {};
	const size = new TextEncoder().encode(text).length;
	if (caps.maxSizeScript && size > caps.maxSizeScript)
		throw new JmapError('tooLarge', `the script is ${size} bytes, the server takes ${caps.maxSizeScript}`);
	const blobId = await uploadText(text);
	const res = await api([['SieveScript/validate', { accountId: sieveAccount(), blobId }, 'v']]);
	const v = ok(res, 'v');
	if (v.error) throw new JmapError(v.error.type || 'invalidSieve', v.error.description || 'the script is not valid');
	return blobId;
}

/* SieveScript/set with one create or update; throws the SetError. */
async function sieveSet(args, key) {
	args = Object.assign({ accountId: sieveAccount() }, args);
	if (F.state) args.ifInState = F.state;
	const res = await api([['SieveScript/set', args, 's']]);
	const r = ok(res, 's');
	const err = (r.notCreated || {})[key] || (r.notUpdated || {})[key];
	if (err) throw new JmapError(err.type, err.description);
	return r;
}

async function openFilters() {
	const sheet = $('filters');
	sheet.hidden = false;
	sheet.dataset.state = 'loading';
	fStatus('');
	$('f-notice').hidden = true;
	$('f-confirm').hidden = true;
	$('f-raw-view').hidden = true;
	$('f-editor').hidden = true;
	$('f-rules').replaceChildren();
	if (!S.caps[SIEVE]) {
		sheet.dataset.state = 'unavailable';
		fStatus('Filters are not available: this server does not offer JMAP Sieve scripts.', true);
		return;
	}
	try {
		await sieveLoad();
		F.rules = [];
		F.foreign = false;
		if (F.script) {
			const rules = rulesFromScript(await downloadText(F.script.blobId, FILTER_SCRIPT + '.sieve'));
			if (rules) F.rules = rules;
			else F.foreign = true;
		}
	} catch (e) {
		sheet.dataset.state = 'error';
		fStatus('Could not read the filters: ' + e.message, true);
		return;
	}
	$('f-editor').hidden = false;
	renderNotice();
	renderRules();
	sheet.dataset.state = 'ready';
}

function renderNotice() {
	const other = F.active && (!F.script || F.active.id !== F.script.id) ? F.active : null;
	const parts = [];
	if (other)
		parts.push(`Your mail is filtered by the script \u201c${other.name}\u201d, not by these rules ` +
			'(it was written elsewhere, e.g. with a ManageSieve client). Saving keeps it in charge.');
	else if (F.script && !F.active)
		parts.push('These rules are saved but not active: no filter script runs.');
	if (F.foreign)
		parts.push(`The script \u201c${FILTER_SCRIPT}\u201d was not written by the webmail; saving replaces it.`);
	$('f-notice-text').textContent = parts.join(' ');
	$('f-notice').hidden = parts.length === 0;
	$('f-advanced').hidden = !other;
	$('f-use').hidden = !(other || (F.script && !F.active));
	$('f-notice').dataset.active = other ? other.name : '';
}

function optionList(set, cur) {
	return Object.entries(set).map(([v, label]) => h('option', { value: v, selected: v === cur }, label));
}

function folderOptions(cur) {
	const names = S.mailboxes.map(folderPath);
	const opts = [h('option', { value: '' }, 'Choose a folder\u2026')];
	if (cur && !names.includes(cur)) opts.push(h('option', { value: cur, selected: true }, cur + ' (missing)'));
	for (const m of S.mailboxes) {
		const p = folderPath(m);
		opts.push(h('option', { value: p, selected: p === cur }, p));
	}
	return opts;
}

/* Every change to the list re-renders it from F.rules; typing only updates the model. */
function renderRules() {
	const ol = $('f-rules');
	ol.replaceChildren(...F.rules.map((r, i) => renderRule(r, i)));
	if (F.rules.length === 0) ol.append(h('li', { class: 'empty' }, 'No rules yet'));
}

function moveRule(i, d) {
	const j = i + d;
	if (j < 0 || j >= F.rules.length) return;
	[F.rules[i], F.rules[j]] = [F.rules[j], F.rules[i]];
	renderRules();
}

function renderRule(r, i) {
	const set = (obj, k) => (ev) => { obj[k] = ev.target.type === 'checkbox' ? ev.target.checked : ev.target.value; };
	const rerender = (obj, k) => (ev) => { obj[k] = ev.target.value; renderRules(); };
	const conds = r.conds.map((c, j) => h('div', { class: 'cond' },
		h('select', { class: 'f-field', 'aria-label': 'Field', onchange: rerender(c, 'field') }, optionList(COND_FIELDS, c.field)),
		c.field === 'header' ? h('input', { class: 'f-hname', 'aria-label': 'Header name', placeholder: 'Header name',
			value: c.header, oninput: set(c, 'header') }) : null,
		h('select', { class: 'f-op', 'aria-label': 'Comparison', onchange: set(c, 'op') }, optionList(COND_OPS, c.op)),
		h('input', { class: 'f-value', 'aria-label': 'Text', value: c.value, oninput: set(c, 'value') }),
		h('button', { type: 'button', class: 'f-cdel', 'aria-label': 'Remove condition',
			onclick: () => { r.conds.splice(j, 1); renderRules(); } }, '\u00d7')));
	const acts = r.acts.map((a, j) => h('div', { class: 'act' },
		h('select', { class: 'f-type', 'aria-label': 'Action', onchange: rerender(a, 'type') }, optionList(ACTIONS, a.type)),
		a.type === 'move' || a.type === 'copy' ? h('select', { class: 'f-folder', 'aria-label': 'Folder',
			onchange: set(a, 'folder') }, folderOptions(a.folder)) : null,
		a.type === 'redirect' || a.type === 'redirectcopy' ? h('input', { class: 'f-addr', type: 'email',
			'aria-label': 'Address', placeholder: 'name@example.org', value: a.address, oninput: set(a, 'address') }) : null,
		h('button', { type: 'button', class: 'f-adel', 'aria-label': 'Remove action',
			onclick: () => { r.acts.splice(j, 1); renderRules(); } }, '\u00d7')));
	return h('li', { class: 'rule' + (r.enabled ? '' : ' disabled'), dataset: { index: i } },
		h('div', { class: 'rule-head' },
			h('label', { class: 'check' }, h('input', { type: 'checkbox', class: 'f-enabled', checked: r.enabled,
				onchange: (ev) => { r.enabled = ev.target.checked; renderRules(); } }), 'On'),
			h('input', { class: 'f-name', 'aria-label': 'Rule name', placeholder: 'Rule name', value: r.name,
				oninput: set(r, 'name') }),
			h('button', { type: 'button', class: 'f-up', 'aria-label': 'Move up', disabled: i === 0,
				onclick: () => moveRule(i, -1) }, '\u2191'),
			h('button', { type: 'button', class: 'f-down', 'aria-label': 'Move down', disabled: i === F.rules.length - 1,
				onclick: () => moveRule(i, 1) }, '\u2193'),
			h('button', { type: 'button', class: 'f-del', onclick: () => { F.rules.splice(i, 1); renderRules(); } }, 'Delete')),
		h('div', { class: 'rule-when' }, 'When ',
			h('select', { class: 'f-match', 'aria-label': 'Match', onchange: set(r, 'match') },
				h('option', { value: 'all', selected: r.match === 'all' }, 'all'),
				h('option', { value: 'any', selected: r.match === 'any' }, 'any')),
			' of these are true', r.conds.length === 0 ? ' (no condition: every message)' : '', ':'),
		h('div', { class: 'conds' }, conds),
		h('button', { type: 'button', class: 'f-cadd', onclick: () => {
			r.conds.push({ field: 'subject', header: '', op: 'contains', value: '' }); renderRules(); } }, 'Add condition'),
		h('div', { class: 'rule-then' }, 'then:'),
		h('div', { class: 'acts' }, acts),
		h('button', { type: 'button', class: 'f-aadd', onclick: () => {
			r.acts.push({ type: 'seen', folder: '', address: '' }); renderRules(); } }, 'Add action'));
}

/* Save: upload, validate, create or update "webmail"; activated when it is the
 * active script already, when none is, or when the user chose it over another. */
async function saveFilters(ev, activate) {
	if (ev) ev.preventDefault();
	const problem = rulesProblem(F.rules);
	if (problem) { fStatus(problem, true); return; }
	const other = F.active && (!F.script || F.active.id !== F.script.id);
	activate = activate || !other;
	fStatus('Saving\u2026');
	$('f-save').disabled = true;
	try {
		const blobId = await uploadValid(rulesToSieve(F.rules));
		const args = F.script ? { update: { [F.script.id]: { blobId } } } :
			{ create: { w: { name: FILTER_SCRIPT, blobId } } };
		if (activate) args.onSuccessActivateScript = F.script ? F.script.id : '#w';
		await sieveSet(args, F.script ? F.script.id : 'w');
		await sieveLoad();
		F.foreign = false;
	} catch (e) {
		fStatus('Not saved: ' + (e.type === 'stateMismatch' ? STALE : e.message), true);
		return;
	} finally {
		$('f-save').disabled = false;
	}
	renderNotice();
	const on = F.active && F.script && F.active.id === F.script.id;
	fStatus(on ? 'Filters saved and active' : 'Filters saved (not active)');
}

const STALE = 'the scripts were changed elsewhere meanwhile; close Filters and open them again';

/* The advanced view: the active script of someone else, as text. */
async function openRaw() {
	const s = F.active;
	if (!s) return;
	fStatus('');
	try {
		$('f-raw').value = await downloadText(s.blobId, s.name + '.sieve');
	} catch (e) { fStatus('Could not read the script: ' + e.message, true); return; }
	$('f-raw-name').textContent = s.name;
	$('f-editor').hidden = true;
	$('f-notice').hidden = true;
	$('f-raw-view').hidden = false;
	$('filters').dataset.state = 'raw';
}

async function saveRaw() {
	const s = F.active;
	if (!s) return;
	fStatus('Saving\u2026');
	try {
		const blobId = await uploadValid($('f-raw').value);
		await sieveSet({ update: { [s.id]: { blobId } } }, s.id);
		await sieveLoad();
	} catch (e) {
		fStatus('Not saved: ' + (e.type === 'stateMismatch' ? STALE : e.message), true);
		return;
	}
	fStatus(`Script \u201c${s.name}\u201d saved`);
}

function initFilters() {
	$('filters-btn').addEventListener('click', openFilters);
	$('filters-form').addEventListener('submit', (ev) => saveFilters(ev, false));
	$('f-close').addEventListener('click', () => { $('filters').hidden = true; });
	$('f-add').addEventListener('click', () => { F.rules.push(newRule()); renderRules();
		const names = $('f-rules').querySelectorAll('.f-name');
		if (names.length) names[names.length - 1].focus(); });
	$('f-advanced').addEventListener('click', openRaw);
	$('f-raw-save').addEventListener('click', saveRaw);
	$('f-raw-back').addEventListener('click', openFilters);
	/* no window.confirm (the page opens no dialogs): the question is asked in place */
	$('f-use').addEventListener('click', () => {
		$('f-confirm-text').textContent = F.active && (!F.script || F.active.id !== F.script.id) ?
			`Filter with these rules instead of \u201c${F.active.name}\u201d? That script is kept, but no longer runs.` :
			'Filter with these rules?';
		$('f-confirm').hidden = false;
	});
	$('f-confirm-no').addEventListener('click', () => { $('f-confirm').hidden = true; });
	$('f-confirm-yes').addEventListener('click', async () => {
		$('f-confirm').hidden = true;
		await saveFilters(null, true);
	});
}

/* ---------- push (RFC 8620 §7.3) ---------- */

/* EventSource cannot send an Authorization header: the stream is read with fetch(). */
async function startPush() {
	const url = S.session.eventSourceUrl;
	if (!url) return poll();
	const ctl = new AbortController();
	S.stream = ctl;
	try {
		const r = await http(tmpl(url, { types: '*', closeafter: 'no', ping: '60' }),
			{ signal: ctl.signal, headers: { Accept: 'text/event-stream' } });
		if (!r.ok || !r.body) throw new JmapError('http' + r.status);
		const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
		let buf = '';
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			buf += value;
			if (buf.length > 1000000) buf = '';
			let i;
			while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
				const block = buf.slice(0, i);
				buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
				let event = 'message', data = '';
				for (const line of block.split(/\r?\n/)) {
					if (line.startsWith('event:')) event = line.slice(6).trim();
					else if (line.startsWith('data:')) data += line.slice(5).trim();
				}
				if (event === 'state' && data) {
					try {
						const sc = JSON.parse(data);
						if ((sc.changed || {})[S.accountId]) scheduleRefresh();
					} catch (e) { /* not JSON */ }
				}
			}
		}
	} catch (e) {
		if (!S.auth) return;
		if (e.name === 'AbortError') return;
		return poll();
	}
	if (S.auth) setTimeout(startPush, 5000);
}

/* Without push: the folder state every 60 s. */
function poll() {
	if (S.pollTimer) return;
	S.pollTimer = setInterval(() => { if (S.auth) scheduleRefresh(); }, 60000);
}

function scheduleRefresh() {
	clearTimeout(S.refreshTimer);
	S.refreshTimer = setTimeout(() => refresh(false), 300);
}

/* ---------- wiring ---------- */

function init() {
	$('login-form').addEventListener('submit', login);
	$('logout-btn').addEventListener('click', logout);
	$('compose-btn').addEventListener('click', () => openCompose('new'));
	$('vacation-btn').addEventListener('click', openVacation);
	$('compose-form').addEventListener('submit', send);
	$('c-save').addEventListener('click', saveDraft);
	$('c-cancel').addEventListener('click', () => { $('compose').hidden = true; });
	$('c-files').addEventListener('change', upload);
	$('vacation-form').addEventListener('submit', saveVacation);
	$('v-cancel').addEventListener('click', () => { $('vacation').hidden = true; });
	initFilters();
	$('more').addEventListener('click', () => loadList(true));
	$('nav-folders').addEventListener('click', () => { document.body.dataset.view = 'folders'; });
	for (const b of document.querySelectorAll('[data-back]'))
		b.addEventListener('click', () => { document.body.dataset.view = b.dataset.back; });
	$('search-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		S.search = $('search').value.trim();
		S.searchAll = true;
		if (!S.search) { openMailbox(S.current || (S.byRole.inbox || {}).id); return; }
		for (const a of $('folders').querySelectorAll('a')) a.classList.remove('current');
		status('');
		document.body.dataset.view = 'list';
		loadList(false);
	});
}

document.addEventListener('DOMContentLoaded', init);
