// browser_common: what the browser tests share: their npm packages, Debian's chromium started as
// CI can run it, and axe-core run in a page. Required by link_browser.js, pages_browser.js,
// service_browser.js and page_axe.js.
'use strict';

const fs = require('fs');
const path = require('path');

// An npm package of tests/integration (package-lock.json), or exit 2 saying how to install it.
function load(who, name) {
	try {
		return require(path.join(__dirname, 'node_modules', name));
	} catch (e) {
		process.stderr.write(`${who}: npm package ${name} is not installed (run npm ci in ` +
			`tests/integration): ${e.message}\n`);
		process.exit(2);
	}
}

// chromium headless with a profile of its own under dir, or exit 2 saying why: root in CI, so
// without chromium's sandbox (it needs an unprivileged user).
async function launch(who, chromium, dir) {
	const puppeteer = load(who, 'puppeteer-core');
	try {
		return await puppeteer.launch({
			executablePath: chromium, headless: true,
			args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
				'--no-first-run', '--disable-background-networking'],
			userDataDir: dir,
		});
	} catch (e) {
		process.stderr.write(`${who}: ${chromium} could not be started: ${e.message}\n`);
		process.exit(2);
	}
}

let axeSource = null;

// axe-core in the page through the DevTools protocol (so the page's own Content-Security-Policy,
// which forbids script, stays as served), to WCAG 2.2 AA and best practice; the violations in
// short and how many rules passed.
async function axe(page) {
	if (!axeSource)
		axeSource = fs.readFileSync(require.resolve(path.join(__dirname, 'node_modules',
			'axe-core', 'axe.min.js')), 'utf8');
	await page.evaluate(axeSource);
	return page.evaluate(async () => {
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
}

module.exports = { load, launch, axe };
