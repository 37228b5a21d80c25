// buzonmail.mjs — drives buzon's built-in webmail (webmail/, served on jmap_port) in
// Debian's headless Chromium through playwright-core (tests/webmail's node_modules), the
// way a person uses it. It never checks the server itself: run.py does that over IMAP.
//
//   node buzonmail.mjs JSON
//
// JSON: {url, origin, user, password, kind, shots, profile, steps ([names]; default all),
// inboxUnread, folders ([names]), listSubjects, open {subject, body}, hostile {subject},
// flag {subject}, reply {subject, text}, move {subject, to}, del {subject}, search {q,
// subject}, vacation {subject, body}, draft {subject, body}, attach {to, subject, file},
// push {maildir, subject}, mixed {host, port, subject}, thread {subject}, filters {script,
// rules, mine {name, text}, bad, edited, trickySieve, sieve {host, port}}, timeoutMs}.
//
// Every case is a step with the JMAP methods it needs beyond what the first slice serves
// (docs/jmap.md); its result line says so: "ok: [step] ..." / "FAIL: [step needs X] ...".
// A step that throws is a failure with a screenshot (error-STEP-KIND.png); the page is
// then reloaded and logged in again so the next step starts clean. Exits 0 when every
// step passed.
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(HERE, '..', 'webmail', 'package.json'));
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);
const timeout = cfg.timeoutMs || 15000;
let failures = 0;
let current = '';

function ok(what) { console.log(`ok: [${current}] ${what}`); }
function fail(what) { failures++; console.log(`FAIL: [${current}${NEEDS[current] ? ' needs ' + NEEDS[current] : ''}] ${what}`); }
function check(cond, what) { if (cond) ok(what); else fail(what); return cond; }
function shot(name) { return path.join(cfg.shots, `${name}-${cfg.kind}.png`); }

// What each step needs beyond the first JMAP slice in main (docs/jmap.md).
const NEEDS = {
	login: '', folders: '', list: '', open: '', hostile: '', phone: '', readme: '',
	threads: 'Email/query collapseThreads + Thread/get',
	body: 'Email/get bodyValues (fetchHTMLBodyValues)',
	flag: 'Email/set (keywords)',
	seen: 'Email/set (keywords)',
	reply: 'Email/set create + EmailSubmission/set (onSuccessUpdateEmail)',
	attach: 'blob upload + Email/set create + EmailSubmission/set + Email/get attachments',
	draft: 'Email/set create (drafts)',
	move: 'Email/set (mailboxIds)',
	del: 'Email/set (mailboxIds to Trash)',
	search: 'Email/query filter text',
	vacation: 'VacationResponse/get + /set',
	filters: 'urn:ietf:params:jmap:sieve (SieveScript/get, /set, /validate, blobs)',
	push: 'EventSource (/jmap/eventsource/)',
	mixed: 'EventSource (/jmap/eventsource/)',
};

const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];
const context = await chromium.launchPersistentContext(cfg.profile, {
	executablePath: '/usr/bin/chromium', headless: true, args,
	viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'UTC',
	ignoreHTTPSErrors: true,
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(timeout);

// Every request the page (and its frames) makes, and every dialog a script would open.
const foreign = [];
let dialogs = 0;
context.on('request', (r) => {
	const u = r.url();
	if (!u.startsWith(cfg.origin) && !u.startsWith('data:') && !u.startsWith('blob:') &&
	    !u.startsWith('about:'))
		foreign.push(u);
});
page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
const consoleLines = [];
page.on('console', (m) => consoleLines.push(m.text()));
// What the hostile message's web server (run.py) was asked for: the browser's request
// events miss loads of sandboxed srcdoc frames, the server sees them all.
async function remoteHits() {
	return (await fetch(cfg.remote + '/__log')).json();
}

async function login() {
	await page.goto(cfg.url);
	await page.fill('#login-user', cfg.user);
	await page.fill('#login-pass', cfg.password);
	await page.click('#login-form button[type=submit]');
	await page.waitForSelector('#folders a', { state: 'attached' });
	await page.waitForSelector('#list li', { state: 'attached' });
}

function row(subject) {
	return page.locator('#list li', { has: page.locator('.subj', { hasText: subject }) }).first();
}

// Is the message in the list? folder() returns once the title changed, before the
// list of that folder came: its row is waited for.
async function listed(subject) {
	try {
		await row(subject).waitFor({ timeout: 5000 });
		return true;
	} catch (e) {
		return false;
	}
}

async function openMessage(subject) {
	await row(subject).click();
	await page.waitForSelector(`#reader-body article.msg h3:has-text(${JSON.stringify(subject)})`);
}

async function folder(name) {
	await page.locator('#folders a', { has: page.locator('.name', { hasText: name }) }).first().click();
	await page.waitForFunction((n) => document.getElementById('list-title').textContent === n, name);
}

// The page's status line after an action: the first text it shows must match (an
// error there fails at once, with the server's answer in the message).
async function statusText(re) {
	await page.waitForFunction(() => document.getElementById('status').textContent !== '' ||
		document.getElementById('c-error').textContent !== '' ||
		document.getElementById('v-error').textContent !== '');
	const t = [await page.textContent('#status'), await page.textContent('#c-error'), await page.textContent('#v-error')].join(' ').trim();
	if (!re.test(t)) throw new Error(`the page says "${t}"`);
}

async function clearStatus() {
	await page.evaluate(() => { for (const id of ['status', 'c-error', 'v-error']) { const e = document.getElementById(id); if (e) e.textContent = ''; } });
}

const steps = [];
function step(name, fn) { steps.push([name, fn]); }

step('login', async () => {
	await page.goto(cfg.origin + '/');
	check(page.url() === cfg.url, `/ redirects to /webmail/ (${page.url()})`);
	await page.screenshot({ path: shot('login') });
	await page.fill('#login-user', cfg.user);
	await page.fill('#login-pass', 'wrong-' + cfg.password);
	await page.click('#login-form button[type=submit]');
	await page.waitForFunction(() => document.getElementById('login-error').textContent !== '');
	check(/Wrong/.test(await page.textContent('#login-error')), 'a wrong password is refused in the form');
	check(dialogs === 0, 'no browser authentication prompt');
	await login();
	ok('logged in');
});

step('folders', async () => {
	const names = await page.$$eval('#folders a .name', (els) => els.map((e) => e.textContent.trim()));
	for (const f of cfg.folders) check(names.includes(f), `folder ${f} listed`);
	const inbox = await page.$eval('#folders a[data-role=inbox]', (a) => (a.querySelector('.count') || {}).textContent || '0');
	check(Number(inbox) === cfg.inboxUnread, `INBOX unread count ${inbox} is IMAP's ${cfg.inboxUnread}`);
	await page.screenshot({ path: shot('inbox') });
});

step('list', async () => {
	const subjects = await page.$$eval('#list li .subj', (els) => els.map((e) => e.textContent));
	for (const s of cfg.listSubjects) check(subjects.includes(s), `list shows "${s}"`);
	check(await page.locator('#list li.unread').count() > 0, 'unread messages are marked');
});

step('threads', async () => {
	await folder('INBOX');
	check(await page.locator('#list li .threadcount').count() > 0, 'a thread shows its message count');
	await openMessage(cfg.thread.subject);
	check(await page.locator('#reader-body article.msg').count() > 1, 'the conversation shows several messages');
});

step('open', async () => {
	await openMessage(cfg.open.subject);
	await page.waitForSelector('#reader-body article.msg .content');
	const text = await page.locator('#reader-body article.msg').last().textContent();
	const frame = await page.locator('#reader-body iframe').count();
	let body = text;
	if (frame) body += await page.$eval('#reader-body iframe', (f) => f.srcdoc);
	check(body.includes(cfg.open.body), 'the body is shown');
	await page.screenshot({ path: shot('message') });
});

step('body', async () => {
	// the server's Email/get body values (not the client's own MIME reader) were used
	const r = await page.evaluate(async ([origin, user, pass]) => {
		const auth = 'Basic ' + btoa(user + ':' + pass);
		const s = await (await fetch(origin + '/.well-known/jmap', { headers: { Authorization: auth }, credentials: 'omit' })).json();
		const acc = s.primaryAccounts['urn:ietf:params:jmap:mail'];
		const q = await (await fetch(s.apiUrl, { method: 'POST', credentials: 'omit', headers: { Authorization: auth, 'Content-Type': 'application/json' },
			body: JSON.stringify({ using: ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'], methodCalls: [
				['Email/query', { accountId: acc, limit: 1 }, 'q'],
				['Email/get', { accountId: acc, '#ids': { resultOf: 'q', name: 'Email/query', path: '/ids' },
					properties: ['textBody', 'bodyValues'], fetchTextBodyValues: true }, 'g']] }) })).json();
		return q.methodResponses[1][0];
	}, [cfg.origin, cfg.user, cfg.password]);
	check(r === 'Email/get', `Email/get with body values answers (${r})`);
});

step('hostile', async () => {
	foreign.length = 0;
	const before = dialogs, hits0 = (await remoteHits()).length;
	await openMessage(cfg.hostile.subject);
	await page.waitForSelector('#reader-body iframe');
	const f = await page.$eval('#reader-body iframe', (x) => ({ sandbox: x.getAttribute('sandbox'), srcdoc: x.srcdoc }));
	check(!/allow-scripts|allow-same-origin/.test(f.sandbox), `the reader frame is sandboxed without scripts (${f.sandbox})`);
	const body = f.srcdoc.slice(f.srcdoc.indexOf('<body>'));
	for (const bad of ['<script', 'onerror', 'onload', '<form', '<input', 'url(', 'javascript:', '<iframe', '<svg', '<link', '<meta', '<object', '<video', 'background=', cfg.remote])
		check(!body.toLowerCase().includes(bad), `sanitised: no ${bad}`);
	check(f.srcdoc.includes("default-src 'none'"), 'the reader document has its own policy');
	check(body.includes('Hostile text stays'), 'the text of the hostile message is shown');
	await page.waitForTimeout(1000);	// let anything that would load, load (no timing assert)
	const hits1 = (await remoteHits()).slice(hits0);
	check(hits1.length === 0, `the remote server was asked nothing (${hits1.join(' ')})`);
	check(foreign.length === 0, `the page requested nothing elsewhere (${foreign.join(' ')})`);
	check(dialogs === before, 'no script ran (no dialog)');
	await page.screenshot({ path: shot('hostile') });
	if (cfg.kind === 'https') return;	// an http: image in an https: page is mixed content
	// the reader allows remote images on request: only the <img>, never the CSS or forms
	await page.click('#reader-body .load-remote');
	await page.waitForFunction((r) => ((document.querySelector('#reader-body iframe') || {}).srcdoc || '').includes(r + '/pixel.gif'), cfg.remote);
	let hits2 = [];
	for (let i = 0; i < 50 && !hits2.includes('/pixel.gif'); i++) {
		await page.waitForTimeout(100);
		hits2 = (await remoteHits()).slice(hits0);
	}
	check(hits2.includes('/pixel.gif'), 'after "Load remote images" the image is loaded');
	await page.waitForTimeout(500);
	hits2 = (await remoteHits()).slice(hits0);
	check(hits2.every((u) => u === '/pixel.gif'), `and nothing else remote (${hits2.join(' ')})`);
	check(dialogs === before, 'still no script ran');
});

step('seen', async () => {
	await folder('INBOX');
	await openMessage(cfg.seen.subject);
	await page.waitForFunction((s) => [...document.querySelectorAll('#list li')].some((li) =>
		li.querySelector('.subj') && li.querySelector('.subj').textContent === s && !li.classList.contains('unread')), cfg.seen.subject);
	ok('opening an unread message marks it read');
});

step('flag', async () => {
	await folder('INBOX');
	await openMessage(cfg.flag.subject);
	await page.locator('#reader-body article.msg button.flag').last().click();
	await page.waitForFunction((s) => [...document.querySelectorAll('#list li')].some((li) =>
		li.querySelector('.subj') && li.querySelector('.subj').textContent === s && li.querySelector('.flag')), cfg.flag.subject);
	ok('flagged');
});

step('reply', async () => {
	await folder('INBOX');
	await openMessage(cfg.reply.subject);
	await page.locator('#reader-body article.msg button.reply').last().click();
	await page.waitForSelector('#compose:not([hidden])');
	check((await page.inputValue('#c-subject')).startsWith('Re: '), 'the reply subject starts with Re:');
	check((await page.inputValue('#c-body')).includes('> '), 'the reply quotes the message');
	await page.click('#c-body');
	await page.keyboard.press('Control+Home');
	await page.keyboard.type(cfg.reply.text);
	await page.screenshot({ path: shot('reply') });
	await clearStatus();
	await page.click('#c-send');
	await statusText(/^Sent$/);
	check(await page.isHidden('#compose'), 'the compose sheet closes');
});

step('attach', async () => {
	await page.click('#compose-btn');
	await page.fill('#c-to', cfg.attach.to);
	await page.fill('#c-subject', cfg.attach.subject);
	await page.fill('#c-body', 'See the attached file.');
	await page.setInputFiles('#c-files', { name: cfg.attach.file, mimeType: 'text/plain', buffer: Buffer.from('attached text\n') });
	await page.waitForSelector(`#c-attachments li:has-text(${JSON.stringify(cfg.attach.file)})`);
	await clearStatus();
	await page.click('#c-send');
	await statusText(/^Sent$/);
	await folder('Sent');
	await openMessage(cfg.attach.subject);
	check(await page.locator('#reader-body a.download', { hasText: cfg.attach.file }).count() === 1, 'the attachment is listed in Sent');
	const [dl] = await Promise.all([page.waitForEvent('download'),
		page.locator('#reader-body a.download', { hasText: cfg.attach.file }).click()]);
	const p = await dl.path();
	check(fs.readFileSync(p, 'utf8') === 'attached text\n', 'the attachment downloads with its content');
});

step('draft', async () => {
	await page.click('#compose-btn');
	await page.fill('#c-to', 'someone@example.net');
	await page.fill('#c-subject', cfg.draft.subject);
	await page.fill('#c-body', cfg.draft.body);
	await clearStatus();
	await page.click('#c-save');
	await statusText(/^Draft saved$/);
	await page.click('#c-cancel');
	await folder('Drafts');
	await row(cfg.draft.subject).click();
	await page.waitForSelector('#compose:not([hidden])');
	check((await page.inputValue('#c-body')).includes(cfg.draft.body), 'the draft opens in the editor');
	await page.click('#c-cancel');
});

step('move', async () => {
	await folder('INBOX');
	await openMessage(cfg.move.subject);
	await clearStatus();
	await page.locator('#reader-body article.msg select.move').last().selectOption({ label: cfg.move.to });
	await statusText(/^Moved to /);
	check(await row(cfg.move.subject).count() === 0, 'the message left the list');
	await folder(cfg.move.to);
	check(await listed(cfg.move.subject), `the message is in ${cfg.move.to}`);
});

step('del', async () => {
	await folder('INBOX');
	await openMessage(cfg.del.subject);
	await clearStatus();
	await page.locator('#reader-body article.msg button.delete').last().click();
	await statusText(/^Moved to /);
	await folder('Trash');
	check(await listed(cfg.del.subject), 'deleted to Trash');
	await openMessage(cfg.del.subject);
	await clearStatus();
	await page.locator('#reader-body article.msg button.delete').last().click();
	await statusText(/^Deleted$/);
	check(await row(cfg.del.subject).count() === 0, 'deleted in Trash: destroyed');
});

step('search', async () => {
	await page.fill('#search', cfg.search.q);
	await clearStatus();
	await page.press('#search', 'Enter');
	await page.waitForFunction((q) => document.getElementById('list-title').textContent === 'Search: ' + q, cfg.search.q);
	await page.waitForFunction(() => document.getElementById('status').textContent !== '' ||
		document.querySelector('#list li .subj'));
	const st = await page.textContent('#status');
	if (st) throw new Error(`the page says "${st}"`);
	await page.waitForSelector(`#list li .subj:has-text(${JSON.stringify(cfg.search.subject)})`);
	const n = await page.locator('#list li .subj').count();
	check(n >= 1 && n < 10, `search finds "${cfg.search.subject}" (${n} results)`);
	await page.screenshot({ path: shot('search') });
	await page.fill('#search', '');
	await page.press('#search', 'Enter');
});

step('vacation', async () => {
	await page.click('#vacation-btn');
	await page.waitForSelector('#vacation:not([hidden])');
	await page.check('#v-enabled');
	await page.fill('#v-subject', cfg.vacation.subject);
	await page.fill('#v-body', cfg.vacation.body);
	await page.screenshot({ path: shot('vacation') });
	await clearStatus();
	await page.click('#v-save');
	await statusText(/^Vacation reply on$/);
	// read back after a new login: the server kept it
	await login();
	await page.click('#vacation-btn');
	await page.waitForFunction((s) => document.getElementById('v-subject').value === s, cfg.vacation.subject);
	check(await page.isChecked('#v-enabled'), 'the vacation reply is on after a new login');
	check((await page.inputValue('#v-body')) === cfg.vacation.body, 'its text was kept');
	await page.click('#v-cancel');
});

// ManageSieve (RFC 5804) on a plain socket: AUTHENTICATE PLAIN, then the commands.
// Resolves with [{lines, final}] per command; a response's literals ({n}) are read
// as bytes and joined to their line. A command is a string or a Buffer (PUTSCRIPT's
// literal).
function sieveSession(host, port, user, password, commands) {
	return new Promise((resolve, reject) => {
		const sock = net.createConnection({ host, port });
		let buf = Buffer.alloc(0), n = -1, lines = [];
		const out = [];
		const send = () => {
			n++;
			if (n === commands.length) { sock.end(); resolve(out); return; }
			sock.write(commands[n]);
		};
		const all = ['AUTHENTICATE "PLAIN" "' + Buffer.from(`\0${user}\0${password}`).toString('base64') + '"\r\n'];
		commands = all.concat(commands.map((c) => (Buffer.isBuffer(c) ? c : c + '\r\n')), ['LOGOUT\r\n']);
		sock.setTimeout(10000, () => { sock.destroy(); reject(new Error('ManageSieve timeout')); });
		sock.on('error', reject);
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			for (;;) {
				const i = buf.indexOf('\r\n');
				if (i < 0) return;
				let ln = buf.subarray(0, i).toString('utf8');
				const lit = /\{(\d+)\}$/.exec(ln);
				if (lit) {
					const len = Number(lit[1]);
					if (buf.length < i + 2 + len) return;	/* the literal is not all here */
					ln += '\n' + buf.subarray(i + 2, i + 2 + len).toString('utf8');
					buf = buf.subarray(i + 2 + len);
					lines.push(ln);
					continue;
				}
				buf = buf.subarray(i + 2);
				if (/^(OK|NO|BYE)\b/.test(ln)) {
					if (n >= 0) out.push({ lines, final: ln });
					else if (!ln.startsWith('OK')) { sock.destroy(); reject(new Error(ln)); return; }
					lines = [];
					if (n === 0 && !ln.startsWith('OK')) { sock.destroy(); reject(new Error('AUTHENTICATE: ' + ln)); return; }
					send();
				} else {
					lines.push(ln);
				}
			}
		});
	});
}

function putScript(name, text) {
	const b = Buffer.from(text);
	return Buffer.concat([Buffer.from(`PUTSCRIPT ${JSON.stringify(name)} {${b.length}+}\r\n`), b, Buffer.from('\r\n')]);
}

async function manageSieve(...commands) {
	const f = cfg.filters.sieve;
	const r = await sieveSession(f.host, f.port, cfg.user, cfg.password, commands);
	return r.slice(1, -1);	/* AUTHENTICATE and LOGOUT */
}

// LISTSCRIPTS: {name: active}
async function listScripts() {
	const [r] = await manageSieve('LISTSCRIPTS');
	const out = {};
	for (const ln of r.lines) {
		const m = /^"((?:[^"\\]|\\.)*)"( ACTIVE)?$/.exec(ln);
		if (m) out[m[1].replace(/\\(.)/g, '$1')] = !!m[2];
	}
	return out;
}

async function getScript(name) {
	const [r] = await manageSieve(`GETSCRIPT ${JSON.stringify(name)}`);
	if (!r.final.startsWith('OK')) throw new Error(`GETSCRIPT ${name}: ${r.final}`);
	/* the first line is the literal ("{n}" and its bytes); the CRLF after it ends it */
	const m = /^\{\d+\}\n/.exec(r.lines[0] || '');
	if (!m) throw new Error(`GETSCRIPT ${name}: no literal (${r.lines[0]})`);
	return r.lines[0].slice(m[0].length);
}

async function openFilters() {
	await page.click('#filters-btn');
	await page.waitForSelector('#filters:not([hidden])');
	await page.waitForFunction(() => ['ready', 'unavailable', 'error'].includes(document.getElementById('filters').dataset.state));
	if (await page.getAttribute('#filters', 'data-state') !== 'ready')
		throw new Error(`the filters panel says "${await page.textContent('#f-error')}"`);
}

// The panel's answer to a save: its status or its error, after "Saving...".
async function filtersAnswer() {
	await page.waitForFunction(() => document.getElementById('f-error').textContent !== '' ||
		(document.getElementById('f-msg').textContent !== '' && !/^Saving/.test(document.getElementById('f-msg').textContent)));
	return { msg: await page.textContent('#f-msg'), error: await page.textContent('#f-error') };
}

// One rule in the editor, from {name, match, conds: [{field, header, op, value}], acts: [{type, folder, address}]}.
async function fillRule(i, r) {
	const rule = () => page.locator('#f-rules li.rule').nth(i);
	await rule().locator('.f-name').fill(r.name);
	if (r.match) await rule().locator('.f-match').selectOption(r.match);
	for (let j = 0; j < r.conds.length; j++) {
		const c = r.conds[j];
		if (j > 0) await rule().locator('.f-cadd').click();
		const cond = () => rule().locator('.cond').nth(j);
		await cond().locator('.f-field').selectOption(c.field);
		if (c.field === 'header') await cond().locator('.f-hname').fill(c.header);
		await cond().locator('.f-op').selectOption(c.op);
		await cond().locator('.f-value').fill(c.value);
	}
	for (let j = 0; j < r.acts.length; j++) {
		const a = r.acts[j];
		if (j > 0) await rule().locator('.f-aadd').click();
		const act = () => rule().locator('.act').nth(j);
		await act().locator('.f-type').selectOption(a.type);
		if (a.folder) await act().locator('.f-folder').selectOption(a.folder);
		if (a.address) await act().locator('.f-addr').fill(a.address);
	}
}

// The rules as the editor shows them.
async function shownRules() {
	return page.$$eval('#f-rules li.rule', (lis) => lis.map((li) => ({
		name: li.querySelector('.f-name').value,
		enabled: li.querySelector('.f-enabled').checked,
		match: li.querySelector('.f-match').value,
		conds: [...li.querySelectorAll('.cond')].map((c) => ({ field: c.querySelector('.f-field').value,
			header: c.querySelector('.f-hname') ? c.querySelector('.f-hname').value : '',
			op: c.querySelector('.f-op').value, value: c.querySelector('.f-value').value })),
		acts: [...li.querySelectorAll('.act')].map((a) => ({ type: a.querySelector('.f-type').value,
			folder: a.querySelector('.f-folder') ? a.querySelector('.f-folder').value : '',
			address: a.querySelector('.f-addr') ? a.querySelector('.f-addr').value : '' })),
	})));
}

// Issue 18: filter rules made in the webmail are a Sieve script the server runs.
step('filters', async () => {
	const f = cfg.filters;
	await openFilters();
	const before = await shownRules();
	check(before.length === 0, `no rules at first (${before.length})`);
	for (let i = 0; i < f.rules.length; i++) {
		await page.click('#f-add');
		await fillRule(i, f.rules[i]);
	}
	// a header name that is no header name is refused before anything is sent
	await page.click('#f-add');
	await fillRule(f.rules.length, { name: 'bad header', conds: [{ field: 'header', header: 'X Bad:', op: 'contains', value: 'x' }], acts: [{ type: 'flag' }] });
	await page.click('#f-save');
	let a = await filtersAnswer();
	check(/header name/.test(a.error), `a bad header name is refused in the page ("${a.error}")`);
	await page.locator('#f-rules li.rule').last().locator('.f-del').click();
	await page.screenshot({ path: shot('filters') });
	await page.click('#f-save');
	a = await filtersAnswer();
	if (!/^Filters saved and active$/.test(a.msg)) throw new Error(`saving says "${a.msg}${a.error}"`);
	ok('saved and active');
	// ManageSieve sees the same script, active
	let scripts = await listScripts();
	check(scripts[f.script] === true, `ManageSieve: "${f.script}" is the active script (${JSON.stringify(scripts)})`);
	const text = await getScript(f.script);
	fs.writeFileSync(path.join(cfg.shots, `filters-${cfg.kind}.sieve`), text);
	check(text.startsWith('# buzon-webmail-rules {'), 'the script starts with the rules as JSON');
	check(/^require \["copy", "fileinto", "imap4flags"\];\r?$/m.test(text), 'it requires only what the rules use');
	check(text.includes(f.trickySieve), `the tricky value is one quoted string (${f.trickySieve})`);
	// a new session reads the rules back from the script
	await login();
	await openFilters();
	const back = await shownRules();
	check(back.length === f.rules.length, `${back.length} rules read back`);
	for (let i = 0; i < f.rules.length; i++) {
		const want = f.rules[i], got = back[i] || { conds: [], acts: [] };
		check(got.name === want.name, `rule ${i + 1} name read back (${JSON.stringify(got.name)})`);
		check(want.conds.every((c, j) => got.conds[j] && got.conds[j].field === c.field && got.conds[j].op === c.op &&
			got.conds[j].value === c.value && (c.field !== 'header' || got.conds[j].header === c.header)),
		`rule ${i + 1} conditions read back (${JSON.stringify(got.conds)})`);
		check(want.acts.every((x, j) => got.acts[j] && got.acts[j].type === x.type && got.acts[j].folder === (x.folder || '') &&
			got.acts[j].address === (x.address || '')),
			`rule ${i + 1} actions read back (${JSON.stringify(got.acts)})`);
	}
	// reorder, disable and put back: the list follows
	await page.locator('#f-rules li.rule').nth(1).locator('.f-up').click();
	let names = await page.$$eval('#f-rules .f-name', (els) => els.map((e) => e.value));
	check(names[0] === f.rules[1].name && names[1] === f.rules[0].name, 'up moves a rule up');
	await page.locator('#f-rules li.rule').nth(0).locator('.f-down').click();
	names = await page.$$eval('#f-rules .f-name', (els) => els.map((e) => e.value));
	check(names[0] === f.rules[0].name, 'down moves it back');
	await page.locator('#f-rules li.rule').nth(1).locator('.f-enabled').uncheck();
	check(await page.locator('#f-rules li.rule').nth(1).evaluate((li) => li.classList.contains('disabled')), 'a rule can be turned off');
	await page.locator('#f-rules li.rule').nth(1).locator('.f-enabled').check();
	await page.click('#f-close');

	// someone else's script made active (a ManageSieve client) while the panel is open:
	// a save made on the old view fails (ifInState) instead of taking over again
	await openFilters();
	let [put, act] = await manageSieve(putScript(f.mine.name, f.mine.text), `SETACTIVE ${JSON.stringify(f.mine.name)}`);
	if (!put.final.startsWith('OK') || !act.final.startsWith('OK'))
		throw new Error(`ManageSieve PUTSCRIPT/SETACTIVE: ${put.final} ${act.final}`);
	await page.click('#f-save');
	a = await filtersAnswer();
	check(/changed elsewhere/.test(a.error), `a save on a stale view is refused ("${a.error}")`);
	scripts = await listScripts();
	check(scripts[f.mine.name] === true, `ManageSieve: "${f.mine.name}" stays active (${JSON.stringify(scripts)})`);
	await page.click('#f-close');
	// reopened, the page says which script filters and replaces nothing by itself
	await openFilters();
	check(await page.isVisible('#f-notice'), 'a notice says another script is active');
	check((await page.textContent('#f-notice-text')).includes(f.mine.name), `it names "${f.mine.name}"`);
	await page.screenshot({ path: shot('filters-other') });
	await page.click('#f-advanced');
	await page.waitForSelector('#f-raw-view:not([hidden])');
	check((await page.inputValue('#f-raw')) === f.mine.text, 'Advanced shows that script as it is');
	await page.fill('#f-raw', f.bad);
	await page.click('#f-raw-save');
	a = await filtersAnswer();
	check(a.error.startsWith('Not saved: ') && a.error.length > 'Not saved: '.length + 10,
		`an invalid script shows the server's error ("${a.error}")`);
	await page.screenshot({ path: shot('filters-advanced') });
	check(await getScript(f.mine.name) === f.mine.text, 'and the script is unchanged');
	scripts = await listScripts();
	check(scripts[f.mine.name] === true, `and still active (${JSON.stringify(scripts)})`);
	await page.fill('#f-raw', f.edited);
	await page.click('#f-raw-save');
	a = await filtersAnswer();
	check(a.msg === `Script \u201c${f.mine.name}\u201d saved`, `a valid script is saved ("${a.msg}${a.error}")`);
	check(await getScript(f.mine.name) === f.edited, 'ManageSieve: the new text');
	await page.click('#f-raw-back');
	await page.waitForFunction(() => document.getElementById('filters').dataset.state === 'ready');
	await page.click('#f-use');
	await page.waitForSelector('#f-confirm:not([hidden])');
	check(scripts[f.script] === false, 'before the confirmation the webmail rules are not active');
	await page.click('#f-confirm-yes');
	a = await filtersAnswer();
	if (!/^Filters saved and active$/.test(a.msg)) throw new Error(`"use webmail rules" says "${a.msg}${a.error}"`);
	scripts = await listScripts();
	check(scripts[f.script] === true && scripts[f.mine.name] === false,
		`ManageSieve: "${f.script}" active again, "${f.mine.name}" kept (${JSON.stringify(scripts)})`);
	check(await page.isHidden('#f-notice'), 'the notice is gone');
	await page.click('#f-close');
});

step('push', async () => {
	await folder('INBOX');
	// a delivery behind the page's back: a file in the Maildir's new/
	const name = `${Date.now()}.push.test`;
	const msg = `From: Pusher <push@example.net>\r\nTo: demo@example.org\r\nSubject: ${cfg.push.subject}\r\n` +
		`Date: ${new Date().toUTCString()}\r\nMessage-ID: <push-${Date.now()}@example.net>\r\n\r\nPushed.\r\n`;
	fs.writeFileSync(path.join(cfg.push.maildir, 'tmp', name), msg);
	if (cfg.push.uid !== undefined) fs.chownSync(path.join(cfg.push.maildir, 'tmp', name), cfg.push.uid, cfg.push.gid);
	fs.renameSync(path.join(cfg.push.maildir, 'tmp', name), path.join(cfg.push.maildir, 'new', name));
	// no reload, no click: the page learns it from the event stream (the poll is 60 s)
	await page.waitForSelector(`#list li .subj:has-text(${JSON.stringify(cfg.push.subject)})`, { timeout: 20000 });
	ok('a delivery appears on the open page');
});

// A few IMAP commands on a plain socket (LOGIN, SELECT, SEARCH, STORE): a change made by
// another client while the page is open. Resolves with the untagged lines of each.
function imapSession(host, port, commands) {
	return new Promise((resolve, reject) => {
		const sock = net.createConnection({ host, port });
		let buf = '', n = -1, lines = [];
		const out = [];
		const next = () => {
			n++;
			if (n === commands.length) { sock.end(); resolve(out); return; }
			const c = typeof commands[n] === 'function' ? commands[n](out) : commands[n];
			sock.write(`t${n} ${c}\r\n`);
		};
		sock.setTimeout(10000, () => { sock.destroy(); reject(new Error('IMAP timeout')); });
		sock.on('error', reject);
		sock.on('data', (d) => {
			buf += d.toString('utf8');
			let i;
			while ((i = buf.indexOf('\r\n')) >= 0) {
				const ln = buf.slice(0, i);
				buf = buf.slice(i + 2);
				if (n < 0 && ln.startsWith('* OK')) { next(); continue; }
				if (ln.startsWith(`t${n} `)) {
					if (!ln.startsWith(`t${n} OK`)) { sock.destroy(); reject(new Error(ln)); return; }
					out.push(lines);
					lines = [];
					next();
				} else {
					lines.push(ln);
				}
			}
		});
	});
}

// Mixed (issue 18): a flag set over IMAP shows on the open page, through push alone.
step('mixed', async () => {
	await folder('INBOX');
	const row = page.locator('#list li', { has: page.locator('.subj', { hasText: cfg.mixed.subject }) });
	await row.first().waitFor({ timeout });
	check(await row.first().evaluate((li) => li.classList.contains('unread')), 'the pushed message is unread');
	const q = JSON.stringify(cfg.mixed.subject);
	await imapSession(cfg.mixed.host, cfg.mixed.port, [
		`LOGIN ${JSON.stringify(cfg.user)} ${JSON.stringify(cfg.password)}`, 'SELECT INBOX',
		`SEARCH SUBJECT ${q}`,
		(out) => {
			const m = out[2].find((l) => l.startsWith('* SEARCH '));
			return `STORE ${m ? m.slice(9).trim().split(' ')[0] : '0'} +FLAGS (\\Seen)`;
		},
		'LOGOUT']);
	const t0 = Date.now();
	// no reload, no click: only the event stream can tell the page
	await page.waitForFunction((s) => [...document.querySelectorAll('#list li')].some((li) =>
		li.querySelector('.subj') && li.querySelector('.subj').textContent === s &&
		!li.classList.contains('unread')), cfg.mixed.subject, { timeout: 5000 });
	ok(`an IMAP STORE \\Seen shows on the open page (${Date.now() - t0} ms)`);
});

// the README's picture (docs/img/webmail.png is this file, reduced)
step('readme', async () => {
	await page.setViewportSize({ width: 1024, height: 600 });
	await folder('INBOX');
	await openMessage(cfg.readme.subject);
	await page.waitForSelector('#reader-body article.msg .content');
	await page.waitForTimeout(300);	// the frame's layout, for the picture only
	await page.screenshot({ path: shot('webmail') });
	await page.setViewportSize({ width: 1280, height: 800 });
});

step('phone', async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	await login();
	check(await page.isVisible('#list-pane') && !(await page.isVisible('#folders')), 'one column: the list');
	await page.screenshot({ path: shot('phone-list') });
	await openMessage(cfg.open.subject);
	check(await page.isVisible('#reader') && !(await page.isVisible('#list-pane')), 'one column: the message');
	await page.screenshot({ path: shot('phone-message') });
	await page.click('#reader .back');
	await page.click('#nav-folders');
	check(await page.isVisible('#folders'), 'one column: the folders');
	await page.screenshot({ path: shot('phone-folders') });
	await page.click('#filters-btn');
	await page.waitForFunction(() => (document.getElementById('filters').dataset.state || 'loading') !== 'loading');
	check(await page.isVisible('#filters') && await page.isVisible('#f-close'), 'the filters panel opens on a phone');
	if (await page.getAttribute('#filters', 'data-state') === 'ready') {
		await page.click('#f-add');	/* not saved: Close drops it */
		await page.locator('#f-rules li.rule').last().locator('.f-type').selectOption('redirectcopy');
		check(await page.$eval('#filters', (e) => e.scrollWidth <= e.clientWidth), 'a rule fits the phone\'s width');
	}
	await page.screenshot({ path: shot('phone-filters') });
	await page.click('#f-close');
	await page.setViewportSize({ width: 1280, height: 800 });
});

const want = cfg.steps && cfg.steps.length ? new Set(cfg.steps) : null;
for (const [name, fn] of steps) {
	if (want && !want.has(name)) continue;
	current = name;
	try {
		await clearStatus();
		await fn();
	} catch (e) {
		fail(`${e.message.split('\n')[0]}`);
		await page.screenshot({ path: shot(`error-${name}`) }).catch(() => {});
		try {
			if (!(await page.isHidden('#compose'))) await page.click('#c-cancel');
		} catch (e2) { /* page gone */ }
		try { await login(); } catch (e2) { console.log(`relogin failed: ${e2.message.split('\n')[0]}`); }
	}
}
current = 'end';
check(dialogs === 0, 'no dialog was ever opened');
for (const l of consoleLines) if (/Content Security Policy|Refused/.test(l)) console.log(`console: ${l}`);
await context.close();
process.exit(failures ? 1 : 0);
