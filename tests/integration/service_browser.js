// service_browser: /service opened in a real browser (Debian's chromium driven by npm's
// puppeteer-core) as a person the sign-on proxy vouches for (the header it would add), checked
// with axe-core, saved as screenshots on screen and as printed; prints what it saw as one JSON
// object for test_service_page.py.
//
//   node service_browser.js '{"url": "...", "chromium": "/usr/bin/chromium", "shots": DIR,
//                             "header": "X-Forwarded-Email", "email": "...", "name": "hos"}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const path = require('path');

const { launch, axe } = require(path.join(__dirname, 'browser_common.js'));

const args = JSON.parse(process.argv[2] || '{}');




async function main() {
	const out = { requests: [], console: [] };
	const browser = await launch('service_browser', args.chromium,
		path.join(args.shots, 'profile-' + args.name));

	try {
		out.browser = await browser.version();
		const page = await browser.newPage();
		await page.setViewport({ width: 1024, height: 900 });
		await page.setExtraHTTPHeaders({ [args.header]: args.email });
		page.on('request', r => out.requests.push(r.url()));
		// a violation of the page's Content-Security-Policy shows in the console
		page.on('console', m => out.console.push(m.text()));
		// what failed to load, by address (the browser asks for /favicon.ico by itself)
		out.failed = [];
		page.on('response', r => { if (r.status() >= 400) out.failed.push(r.url()); });
		const res = await page.goto(args.url, { waitUntil: 'load' });
		out.status = res ? res.status() : null;
		out.csp = res ? res.headers()['content-security-policy'] : null;
		out.page = await page.evaluate(() => ({
			title: document.title,
			h1: (document.querySelector('h1') || {}).textContent || '',
			svgs: [...document.querySelectorAll('svg')].map(s => ({
				role: s.getAttribute('role'),
				name: (s.querySelector('title') || {}).textContent || '',
				width: s.getBoundingClientRect().width,
				height: s.getBoundingClientRect().height,
			})),
			scripts: document.scripts.length,
			styled: document.querySelectorAll('[style]').length,
		}));
		out.axe = await axe(page);
		await page.screenshot({ path: path.join(args.shots, `service-${args.name}.png`),
			fullPage: true });
		await page.emulateMediaType('print');
		out.print = await page.evaluate(() => ({
			header: getComputedStyle(document.querySelector('header')).display,
			svgs: [...document.querySelectorAll('svg')].filter(s =>
				s.getBoundingClientRect().width > 0).length,
		}));
		await page.screenshot({ path: path.join(args.shots, `service-${args.name}-print.png`),
			fullPage: true });
	} catch (e) {
		out.error = String(e && e.stack || e);
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

main();
