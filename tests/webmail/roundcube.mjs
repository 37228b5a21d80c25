// roundcube.mjs — drives Roundcube (served by `php -S`, configured by run.py) in Debian's
// headless Chromium through playwright-core, the way a person uses it: log in, look at
// the folder list and the message list, open a message, move another one to Trash,
// log out.  It never checks the server itself: run.py does that over IMAP afterwards.
//
//   node roundcube.mjs JSON
//
// JSON: {url, user, password, kind, shots (dir for PNGs), profile (fresh empty dir for
// --user-data-dir), folders ([[name, class], ...]), listSubjects ([...]), open
// ({subject, body}), trash ({subject}), extras, big ({folder, threads, depth, newest,
// newestRoot, oldest}: a large folder to sort and thread), basic (false: skip the
// folder/list/open/delete steps), sieve ({filter, subject, folder, vacation: {subject,
// body, days}}: a filter and an Out of Office reply in the managesieve plugin), timeoutMs}.
// Prints "ok: ..." / "FAIL: ..." lines on stdout and exits 0 when every step passed.
// A step that throws ends the run (what follows depends on it) after a screenshot of
// the page as it was (error-KIND.png).
import { chromium } from 'playwright-core';
import path from 'node:path';
import fs from 'node:fs';

const cfg = JSON.parse(process.argv[2]);
const timeout = cfg.timeoutMs || 20000;
let failures = 0;

function ok(what) {
	console.log(`ok: ${what}`);
}

function fail(what) {
	failures++;
	console.log(`FAIL: ${what}`);
}

function check(cond, what) {
	if (cond)
		ok(what);
	else
		fail(what);
	return cond;
}

function shot(name) {
	return path.join(cfg.shots, `${name}-${cfg.kind}.png`);
}

// The flags known to work on this machine (no sandbox as root, no background traffic:
// the network is closed and Chromium's own connections would only be refused).
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

const context = await chromium.launchPersistentContext(cfg.profile, {
	executablePath: '/usr/bin/chromium',
	headless: true,
	args,
	viewport: { width: 1280, height: 800 },
	locale: 'en-US',
	timezoneId: 'UTC',
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(timeout);
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

// The message list rows that are shown (Roundcube hides a removed row before it
// drops it), as {subject, unread, uid}.
async function listRows() {
	return page.$$eval('#messagelist tbody tr', (rows) => rows
	    .filter((tr) => tr.getClientRects().length > 0).map((tr) => ({
		subject: (tr.querySelector('td.subject span.subject') ||
		    tr.querySelector('td.subject') || tr).textContent.trim(),
		unread: tr.classList.contains('unread'),
		uid: tr.getAttribute('id'),
	})));
}

// Roundcube ignores commands while a request of its own is running (rcmail.busy).
async function idle() {
	await page.waitForFunction(() => window.rcmail && !window.rcmail.busy);
}

async function rowFor(subject) {
	const row = page.locator('#messagelist tbody tr', { hasText: subject });
	await row.first().waitFor();
	return row.first();
}

try {
	// 1. log in
	const resp = await page.goto(cfg.url, { waitUntil: 'domcontentloaded' });
	check(resp && resp.ok(), `login page loads (HTTP ${resp && resp.status()})`);
	await page.fill('#rcmloginuser', cfg.user);
	await page.fill('#rcmloginpwd', cfg.password);
	await Promise.all([
		page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
		page.click('#rcmloginsubmit'),
	]);
	const loginError = await page.$eval('#messagestack', (e) => e.textContent.trim()).catch(() => '');
	if (!check(await page.locator('#mailboxlist').count() > 0,
	    `logged in (message: "${loginError}")`))
		throw new Error('login failed: ' + loginError);

	if (cfg.basic !== false) {	// steps 2-5 (not indented, to keep them as they were)
	// 2. folder list with the special-use folders (the class is Roundcube's folder
	// role: it comes from the server's SPECIAL-USE attributes, see run.py)
	await page.locator('#mailboxlist li.mailbox.inbox').waitFor();
	const folders = await page.$$eval('#mailboxlist li.mailbox', (lis) => lis.map((li) => ({
		name: (li.querySelector('a') || li).getAttribute('rel') || '',
		label: (li.querySelector('a') || li).textContent.trim(),
		cls: li.className,
	})));
	console.log(`folders: ${JSON.stringify(folders)}`);
	for (const [name, cls] of cfg.folders) {
		const f = folders.find((x) => x.name === name);
		check(f && (!cls || f.cls.split(/\s+/).includes(cls)),
		    `folder ${name} listed` + (cls ? ` as ${cls}` : '') + (f ? ` (class "${f.cls}")` : ''));
	}

	// 3. message list with UTF-8 encoded-word subjects, decoded
	await page.locator('#messagelist tbody tr').first().waitFor();
	let rows = await listRows();
	console.log(`inbox rows: ${rows.length}`);
	for (const s of cfg.listSubjects)
		check(rows.some((r) => r.subject === s), `message list shows "${s}"`);
	await page.screenshot({ path: shot('inbox') });

	// 4. open an unread message: its UTF-8 body is shown, it becomes read
	const openRow = await rowFor(cfg.open.subject);
	check(await openRow.evaluate((tr) => tr.classList.contains('unread')),
	    `"${cfg.open.subject}" is unread before opening`);
	await idle();
	await openRow.click();
	const frame = page.frameLocator('#messagecontframe');
	const body = frame.locator('#messagebody');
	await body.waitFor();
	await frame.locator('#messagebody', { hasText: cfg.open.body }).waitFor()
		.catch(() => {});
	const bodyText = (await body.textContent()) || '';
	check(bodyText.includes(cfg.open.body), `opened message body shows "${cfg.open.body}"`);
	const subjText = await frame.locator('h2.subject').textContent().catch(() => '');
	check((subjText || '').includes(cfg.open.subject), `opened message subject "${(subjText || '').trim()}"`);
	await page.waitForFunction((s) => {
		for (const tr of document.querySelectorAll('#messagelist tbody tr'))
			if (tr.textContent.includes(s))
				return !tr.classList.contains('unread');
		return false;
	}, cfg.open.subject).then(() => ok(`"${cfg.open.subject}" shown as read`),
	    () => fail(`"${cfg.open.subject}" still shown unread`));
	await page.screenshot({ path: shot('message') });

	// 5. move one message to Trash with the Delete button (Roundcube moves to the
	// Trash folder when one exists and flag_for_deletion is off)
	const before = (await listRows()).length;
	const trashRow = await rowFor(cfg.trash.subject);
	await idle();
	await trashRow.click();
	// its preview loaded, nothing pending: now Delete acts on it
	await page.frameLocator('#messagecontframe').locator('h2.subject', { hasText: cfg.trash.subject })
		.waitFor();
	await idle();
	await page.locator('#toolbar-menu a.delete:not(.disabled), #messagetoolbar a.delete:not(.disabled)')
		.first().click();
	await page.waitForFunction((s) => ![...document.querySelectorAll('#messagelist tbody tr')]
		.some((tr) => tr.getClientRects().length > 0 && tr.textContent.includes(s)),
	    cfg.trash.subject)
		.then(() => ok(`"${cfg.trash.subject}" left the message list`),
		    () => fail(`"${cfg.trash.subject}" still in the message list`));
	rows = await listRows();
	check(rows.length === before - 1, `message list has ${rows.length} rows (was ${before})`);
	// Roundcube's own view of Trash: open it and find the message there
	// (a click that lands while Roundcube is still busy can be dropped by its UI: click
	// again once if the folder did not open; the server log shows whether it asked)
	let listed = false;
	for (let attempt = 0; attempt < 2 && !listed; attempt++) {
		await idle();
		await page.click('#mailboxlist li.mailbox.trash > a');
		listed = await page.locator('#messagelist tbody tr', { hasText: cfg.trash.subject })
			.first().waitFor({ timeout: 15000 }).then(() => true, () => false);
	}
	check(listed, `Trash lists "${cfg.trash.subject}"`);
	await page.screenshot({ path: shot('trash') });
	}	// basic

	if (cfg.extras) {
		// 7. search (UTF-8 SEARCH CHARSET), then back to the whole list
		await idle();
		await page.click('#mailboxlist li.mailbox.inbox > a');
		await page.locator('#messagelist tbody tr', { hasText: cfg.extras.search.subject }).first().waitFor();
		await idle();
		await page.fill('#mailsearchform', cfg.extras.search.q);
		await page.press('#mailsearchform', 'Enter');
		await page.waitForFunction((s) => {
			const shown = [...document.querySelectorAll('#messagelist tbody tr')]
				.filter((tr) => tr.getClientRects().length > 0);
			return shown.length === 1 && shown[0].textContent.includes(s);
		}, cfg.extras.search.subject).then(() => ok(`search "${cfg.extras.search.q}" finds one message`),
		    async () => fail(`search "${cfg.extras.search.q}": ${JSON.stringify((await listRows()).map((r) => r.subject))}`));
		await idle();
		await page.evaluate(() => window.rcmail.command('reset-search'));
		await page.waitForFunction(() => [...document.querySelectorAll('#messagelist tbody tr')]
			.filter((tr) => tr.getClientRects().length > 0).length > 1);

		// 8. flag a message (the Mark menu's "As flagged")
		await idle();
		await (await rowFor(cfg.extras.flag.subject)).click();
		await page.frameLocator('#messagecontframe').locator('h2.subject', { hasText: cfg.extras.flag.subject })
			.waitFor();
		await idle();
		await page.evaluate(() => window.rcmail.command('mark', 'flagged'));
		await page.waitForFunction((s) => [...document.querySelectorAll('#messagelist tbody tr')]
			.some((tr) => tr.textContent.includes(s) && tr.classList.contains('flagged')),
		    cfg.extras.flag.subject).then(() => ok(`"${cfg.extras.flag.subject}" shown flagged`),
		    () => fail(`"${cfg.extras.flag.subject}" not shown flagged`));

		// 9. download an attachment from the opened message (BODY[2], base64)
		await idle();
		await (await rowFor(cfg.extras.attachment.subject)).click();
		const att = page.frameLocator('#messagecontframe')
			.locator('#attachment-list li', { hasText: cfg.extras.attachment.filename }).locator('a').first();
		await att.waitFor();
		const href = await att.getAttribute('href');
		const dl = await page.request.get(new URL(href, page.url()).href + '&_download=1');
		const bytes = await dl.body();
		fs.writeFileSync(path.join(cfg.shots, `attachment-${cfg.kind}.bin`), bytes);
		check(dl.ok(), `attachment ${cfg.extras.attachment.filename} downloaded (${bytes.length} bytes, HTTP ${dl.status()})`);

		// 10. save a draft with a UTF-8 subject (APPEND to Drafts)
		await idle();
		await page.goto(cfg.url + '?_task=mail&_action=compose', { waitUntil: 'domcontentloaded' });
		await page.locator('#compose-subject').waitFor();
		await page.fill('#compose-subject', cfg.extras.draft.subject);
		await page.fill('#composebody', cfg.extras.draft.body);
		await idle();
		await page.evaluate(() => window.rcmail.command('savedraft'));
		await page.waitForFunction(() => window.rcmail.env.draft_id)
			.then(() => ok('draft saved'), () => fail('draft not saved'));

		// 11. create a folder with a non-ASCII name, then rename it (Settings > Folders)
		await idle();
		await page.goto(cfg.url + '?_task=settings&_action=folders', { waitUntil: 'domcontentloaded' });
		await idle();
		const pref = page.frameLocator('#preferences-frame');
		const saveFolder = async (name) => {
			await pref.locator('input[name=_name]').waitFor();
			await pref.locator('input[name=_name]').fill(name);
			await page.evaluate(() => document.querySelector('#preferences-frame')
				.contentWindow.rcmail.command('save'));
			await page.locator('#subscription-table li', { hasText: name }).first().waitFor()
				.then(() => ok(`folder "${name}" listed in the settings`),
				    () => fail(`folder "${name}" not listed in the settings`));
		};
		await page.evaluate(() => window.rcmail.command('create-folder'));
		await saveFolder(cfg.extras.folder.create);
		await idle();
		await page.locator('#subscription-table li', { hasText: cfg.extras.folder.create }).first().click();
		await pref.locator(`input[name=_name][value="${cfg.extras.folder.create}"]`).waitFor();
		await saveFolder(cfg.extras.folder.rename);
		await page.screenshot({ path: shot('folders') });
	}

	if (cfg.big) {
		// 12. a folder of threads*depth messages: sorted by date (newest first), then in
		// thread view. Roundcube asks the server (UID SORT, UID THREAD) because buzon
		// offers SORT and THREAD; run.py checks the IMAP trace for it. set_list_options
		// is what the list options dialog's Save button calls.
		const total = cfg.big.threads * cfg.big.depth;
		const firstRow = async () => (await listRows())[0] || {};
		const listed = async (mode, count, subject) => page.waitForFunction(([c, s]) => {
			const r = window.rcmail;
			const shown = [...document.querySelectorAll('#messagelist tbody tr')]
				.filter((tr) => tr.getClientRects().length > 0);
			return r && !r.busy && r.env.mailbox === 'Big' && r.env.messagecount === c &&
			    shown.length > 0 && shown[0].textContent.includes(s);
		}, [count, subject], { timeout: 60000 }).then(() => true, () => false);
		await idle();
		await page.goto(cfg.url + '?_task=mail&_mbox=INBOX', { waitUntil: 'domcontentloaded' });
		await idle();
		await page.click(`#mailboxlist li.mailbox a[rel="${cfg.big.folder}"]`);
		await idle();
		let t0 = Date.now();
		await page.evaluate(() => window.rcmail.set_list_options(null, 'date', 'DESC', 0));
		let okList = await listed('list', total, cfg.big.newest);
		const sortMs = Date.now() - t0;
		check(okList, `${cfg.big.folder}: ${total} messages sorted by date, newest "${cfg.big.newest}" first ` +
		    `(first row "${(await firstRow()).subject}", ${sortMs} ms)`);
		const pageRows = (await listRows()).length;
		check(pageRows > 1 && pageRows <= 200, `${cfg.big.folder}: one page of ${pageRows} rows shown`);
		await page.screenshot({ path: shot('big-date') });
		// the last page ends with the oldest message: the server sorted all of them
		await idle();
		await page.evaluate(() => window.rcmail.command('lastpage'));
		const oldest = await page.waitForFunction((s) => {
			const shown = [...document.querySelectorAll('#messagelist tbody tr')]
				.filter((tr) => tr.getClientRects().length > 0);
			const last = shown.length ? shown[shown.length - 1].textContent : '';
			return !window.rcmail.busy && window.rcmail.env.current_page > 1 && last.includes(s) &&
			    !last.includes('Re: ');
		}, cfg.big.oldest, { timeout: 20000 }).then(() => true, () => false);
		check(oldest, `${cfg.big.folder}: the last page ends with the oldest message "${cfg.big.oldest}"`);
		await idle();
		await page.evaluate(() => window.rcmail.command('firstpage'));
		await idle();
		t0 = Date.now();
		await idle();
		await page.evaluate(() => window.rcmail.set_list_options(null, 'date', 'DESC', 1));
		okList = await listed('threads', cfg.big.threads, cfg.big.newestRoot);
		const threadMs = Date.now() - t0;
		check(okList, `${cfg.big.folder}: ${cfg.big.threads} threads, newest "${cfg.big.newestRoot}" first ` +
		    `(first row "${(await firstRow()).subject}", messagecount ${await page.evaluate(() => window.rcmail.env.messagecount)}, ${threadMs} ms)`);
		// expand every thread of the page: the first thread shows its depth-1 replies
		await idle();
		await page.evaluate(() => window.rcmail.command('expand-all'));
		const firstThread = await page.waitForFunction((d) => {
			const shown = [...document.querySelectorAll('#messagelist tbody tr')]
				.filter((tr) => tr.getClientRects().length > 0);
			let n = 0;
			for (const tr of shown.slice(1)) {
				if (!tr.textContent.includes('Re: '))
					break;
				n++;
			}
			return n === d - 1 ? n : false;
		}, cfg.big.depth, { timeout: 20000 }).then((h) => h.jsonValue(), () => null);
		check(firstThread === cfg.big.depth - 1,
		    `${cfg.big.folder}: the first thread expands to its ${cfg.big.depth - 1} replies (${firstThread})`);
		await page.screenshot({ path: shot('big-thread') });
		// back to the plain list, as a person leaves it
		await idle();
		await page.evaluate(() => window.rcmail.set_list_options(null, 'date', 'DESC', 0));
		await idle();
	}

	if (cfg.sieve) {
		// 13. Settings > Filters (managesieve plugin): a new filter "Subject contains
		// SUBJECT -> Move message to FOLDER" in the form the plugin shows in its frame
		await idle();
		await page.goto(cfg.url + '?_task=settings&_action=plugin.managesieve', { waitUntil: 'domcontentloaded' });
		await idle();
		const connErr = await page.evaluate(() => window.rcmail.env.sieveconnerror || '');
		if (!check(!connErr, `the Filters page is connected to ManageSieve (${connErr})`))
			throw new Error('managesieve: no connection');
		await page.waitForFunction(() => window.rcmail.filters_list);	// (empty: not visible)
		await page.locator('#layout-content .header a.create:not(.disabled)').click();
		const ff = page.frameLocator('#filter-box');
		await ff.locator('#_name').waitFor();
		await ff.locator('#_name').fill(cfg.sieve.filter);
		await ff.locator('#header0').selectOption('subject');
		await ff.locator('#rule_op0').selectOption('contains');
		// the rule's value: the list widget's first input (over a hidden textarea)
		await ff.locator('#rulerow0 input[type=text]:visible').first().fill(cfg.sieve.subject);
		await ff.locator('#action_type0').selectOption('fileinto');
		await ff.locator('#action_mailbox0').selectOption(cfg.sieve.folder);
		await ff.locator('button.submit, input.button.mainaction').first().click();
		await page.locator('#filterslist tr', { hasText: cfg.sieve.filter }).first().waitFor()
			.then(() => ok(`filter "${cfg.sieve.filter}" saved and listed`),
			    () => fail(`filter "${cfg.sieve.filter}" not listed after saving`));
		await page.screenshot({ path: shot('sieve-filter') });

		// 14. Settings > Out of Office: subject, body, interval, status "On"
		await idle();
		await page.goto(cfg.url + '?_task=settings&_action=plugin.managesieve-vacation', { waitUntil: 'domcontentloaded' });
		await idle();
		await page.locator('#vacation_subject').waitFor();
		await page.fill('#vacation_subject', cfg.sieve.vacation.subject);
		await page.fill('#vacation_reason', cfg.sieve.vacation.body);
		await page.fill('#vacation_interval', String(cfg.sieve.vacation.days));
		// from yesterday to next week (UTC): Roundcube writes currentdate tests (date, relational)
		const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
		for (const [id, n] of [['#vacation_datefrom', -1], ['#vacation_dateto', 7]]) {
			await page.fill(id, day(n));
			await page.press(id, 'Escape');	// the date picker
		}
		await page.locator('#vacation_status').selectOption('on');
		await page.locator('.formbuttons button.submit, button.submit.mainaction').first().click();
		await page.waitForFunction(() => [...document.querySelectorAll('#messagestack div')]
			.some((d) => /saved/i.test(d.textContent)))
			.then(() => ok('Out of Office saved'),
			    async () => fail(`Out of Office not saved: "${await page.$eval('#messagestack', (e) => e.textContent.trim()).catch(() => '')}"`));
		await page.screenshot({ path: shot('sieve-vacation') });
	}

	// 6. log out
	await idle();
	await Promise.all([
		page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
		page.click('a.logout'),
	]);
	check(await page.locator('#rcmloginuser').count() > 0, 'logged out (login form again)');
} catch (e) {
	fail(`step failed: ${String(e).split('\n')[0]}`);
	await page.screenshot({ path: shot('error') }).catch(() => {});
	await page.content().then((h) => fs.writeFileSync(path.join(cfg.shots, `error-${cfg.kind}.html`), h))
		.catch(() => {});
}
for (const e of consoleErrors)
	console.log(`browser console error: ${e}`);
await context.close();
process.exit(failures ? 1 : 0);
