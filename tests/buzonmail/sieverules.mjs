// sieverules.mjs — the webmail's Sieve generator (webmail/app.js, docs/webmail.md
// "Filters") without a browser: app.js is run in a bare context (its DOM code only
// runs on DOMContentLoaded, which never comes) and its pure functions are called.
//
//   node sieverules.mjs CASES.json OUTDIR
//
// CASES.json: {scripts: [{name, rules}], headerNames: {name: valid}, problems:
// [{rules, want (regex or null)}]}. For each script case OUTDIR/NAME.sieve is written
// (run.py compiles and runs it with `buzon sieve`), and the rules read back from it
// must equal the rules given (after cleanRule). Prints "ok: ..." / "FAIL: ..." lines;
// exits 1 on a failure.
import vm from 'node:vm';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [casesPath, outDir] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const ctx = vm.createContext({ document: { addEventListener() {} }, TextEncoder, URL, console });
vm.runInContext(fs.readFileSync(path.join(HERE, '..', '..', 'webmail', 'app.js'), 'utf8'), ctx,
	{ filename: 'app.js' });
let failures = 0;
function check(cond, what) {
	if (!cond) failures++;
	console.log(`${cond ? 'ok' : 'FAIL'}: ${what}`);
}
// JSON through the context's own JSON, so objects compare as plain data
const plain = (x) => JSON.parse(JSON.stringify(x));

for (const c of cases.scripts) {
	const rules = c.rules.map((r) => ctx.cleanRule(r));
	const problem = ctx.rulesProblem(rules);
	check(problem === null, `${c.name}: the rules are accepted (${problem})`);
	const text = ctx.rulesToSieve(rules);
	fs.writeFileSync(path.join(outDir, c.name + '.sieve'), text);
	check(JSON.stringify(plain(ctx.rulesFromScript(text))) === JSON.stringify(plain(rules)),
		`${c.name}: the rules read back from the script are the same`);
	const first = text.split('\r\n')[0];
	check(first.startsWith('# buzon-webmail-rules {') && !/[\r\n\u2028\u2029]/.test(first),
		`${c.name}: the JSON is one comment line`);
}
for (const [name, valid] of Object.entries(cases.headerNames))
	check(ctx.validHeaderName(name) === valid, `header name ${JSON.stringify(name)} ${valid ? 'accepted' : 'refused'}`);
for (const p of cases.problems) {
	const got = ctx.rulesProblem(p.rules.map((r) => ctx.cleanRule(r)));
	check(p.want === null ? got === null : got !== null && new RegExp(p.want).test(got),
		`rulesProblem ${JSON.stringify(p.want)}: ${JSON.stringify(got)}`);
}
// what is not the webmail's own script is never taken for rules
for (const t of ['require "fileinto";\r\nfileinto "X";\r\n', '# buzon-webmail-rules {bad json\r\n',
	'# buzon-webmail-rules {"v":2,"rules":[]}\r\n', '#buzon-webmail-rules {"v":1,"rules":[]}\r\n', ''])
	check(ctx.rulesFromScript(t) === null, `not rules: ${JSON.stringify(t.slice(0, 40))}`);
// a JSON line edited by hand is reduced to what the editor knows
const odd = ctx.rulesFromScript('# buzon-webmail-rules {"v":1,"rules":[{"name":7,"match":"x",' +
	'"conds":[{"field":"body","op":"regex","value":"a"}],"acts":[{"type":"reject"},null]}]}\n');
check(JSON.stringify(plain(odd)) === JSON.stringify([{ name: '', enabled: true, match: 'all',
	conds: [{ field: 'subject', header: '', op: 'contains', value: 'a' }],
	acts: [{ type: 'move', folder: '', address: '' }, { type: 'move', folder: '', address: '' }] }]),
`unknown fields become defaults (${JSON.stringify(odd)})`);
process.exit(failures ? 1 : 0);
