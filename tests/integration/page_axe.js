// page_axe: one page for people opened in a real browser (Debian's chromium driven by npm's
// puppeteer-core) as a person signed in by the sign-on proxy would see it, a screenshot saved,
// and axe-core run on it; prints what it saw as one JSON object.
//
//   node page_axe.js '{"url": "...", "chromium": "/usr/bin/chromium", "shots": DIR,
//                      "name": "child", "headers": {"X-Forwarded-Email": "..."}}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const path = require('path');

const { launch, axe } = require(path.join(__dirname, 'browser_common.js'));

const args = JSON.parse(process.argv[2] || '{}');



async function main() {
	const out = { requests: [], console: [] };
	const browser = await launch('page_axe', args.chromium,
		path.join(args.shots, 'profile-' + args.name));

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
		out.axe = await axe(page);
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
