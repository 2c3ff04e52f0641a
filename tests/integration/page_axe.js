// page_axe: one page for people opened in a real browser (Debian's chromium driven by npm's
// puppeteer-core) as a person signed in by the sign-on proxy would see it, a screenshot saved,
// and axe-core run on it; prints what it saw as one JSON object.
//
//   node page_axe.js '{"url": "...", "chromium": "/usr/bin/chromium", "shots": DIR,
//                      "name": "child", "headers": {"X-Forwarded-Email": "..."}}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const fs = require('fs');
const path = require('path');

const args = JSON.parse(process.argv[2] || '{}');

function load(name) {
	try {
		return require(path.join(__dirname, 'node_modules', name));
	} catch (e) {
		process.stderr.write(`page_axe: npm package ${name} is not installed (run npm ci in ` +
			`tests/integration): ${e.message}\n`);
		process.exit(2);
	}
}

const puppeteer = load('puppeteer-core');
const axeSource = fs.readFileSync(require.resolve(path.join(__dirname, 'node_modules',
	'axe-core', 'axe.min.js')), 'utf8');

async function main() {
	const out = { requests: [], console: [] };
	let browser;
	try {
		browser = await puppeteer.launch({
			executablePath: args.chromium, headless: true,
			args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
				'--no-first-run', '--disable-background-networking'],
			userDataDir: path.join(args.shots, 'profile-' + args.name),
		});
	} catch (e) {
		process.stderr.write(`page_axe: ${args.chromium} could not be started: ${e.message}\n`);
		process.exit(2);
	}
	try {
		const page = await browser.newPage();
		await page.setExtraHTTPHeaders(args.headers || {});
		await page.setViewport({ width: 1100, height: 900 });
		page.on('request', r => out.requests.push(r.url()));
		// a policy violation (an inline style attribute the CSP refuses) shows here
		page.on('console', m => out.console.push(m.text()));
		const res = await page.goto(args.url, { waitUntil: 'load' });
		out.status = res.status();
		out.title = await page.title();
		out.scripts = await page.evaluate(() => document.scripts.length);
		await page.screenshot({ path: path.join(args.shots, args.name + '.png'), fullPage: true });
		// axe through the DevTools protocol, so the page's own policy stays as served
		await page.evaluate(axeSource);
		out.axe = await page.evaluate(async () => {
			const r = await window.axe.run(document, {
				runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
					'wcag22aa', 'best-practice'] },
			});
			return {
				violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
					nodes: v.nodes.map(n => n.html).slice(0, 3) })),
				passes: r.passes.length,
			};
		});
		// printing: the navigation goes, the drawing and the table stay
		await page.emulateMediaType('print');
		out.print = await page.evaluate(() => ({
			nav: getComputedStyle(document.querySelector('header')).display,
			svg: !!document.querySelector('svg') &&
				getComputedStyle(document.querySelector('svg')).display !== 'none',
		}));
		await page.pdf({ path: path.join(args.shots, args.name + '.pdf'), format: 'A4' });
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(e => {
	process.stderr.write(`page_axe: ${e.stack || e}\n`);
	process.exit(1);
});
