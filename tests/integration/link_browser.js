// link_browser: a link from a received mail opened in a real browser (Debian's chromium driven by
// npm's puppeteer-core), its snooze form filled in and submitted as a person would, both pages
// checked with axe-core; prints what it saw as one JSON object for test_link_browser.py.
//
//   node link_browser.js '{"url": "...", "chromium": "/usr/bin/chromium", "shots": DIR,
//                          "reason_label": "...", "days_ahead": 6, "note": "..."}'
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
		process.stderr.write(`link_browser: npm package ${name} is not installed (run npm ci in ` +
			`tests/integration): ${e.message}\n`);
		process.exit(2);
	}
}

const puppeteer = load('puppeteer-core');
const axeSource = fs.readFileSync(require.resolve(path.join(__dirname, 'node_modules',
	'axe-core', 'axe.min.js')), 'utf8');

// axe-core in the page (through the DevTools protocol, so the page's own Content-Security-Policy
// is left as it is served), to WCAG 2.2 AA and best practice; the violations in short.
async function axe(page) {
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

async function describe(page, response) {
	return page.evaluate((status) => {
		const facts = {};
		const dts = document.querySelectorAll('dl dt');
		for (const dt of dts)
			facts[dt.textContent.trim()] = dt.nextElementSibling ?
				dt.nextElementSibling.textContent.trim() : null;
		return {
			status, url: location.href, title: document.title,
			h1: (document.querySelector('h1') || {}).textContent || '',
			facts, text: document.body.innerText,
			forms: [...document.forms].map(f => (f.querySelector('h2') || {}).textContent),
			scripts: document.scripts.length,
		};
	}, response ? response.status() : null);
}

// The date as a person types it into the date field: its label clicked (which puts the caret in
// the field's first part), then its parts in the order the browser's locale shows them.
async function typeDate(page, id, iso) {
	const [y, m, d] = iso.split('-');
	const order = await page.evaluate(() => new Intl.DateTimeFormat(navigator.language)
		.formatToParts(new Date(2026, 11, 10)).filter(p => p.type !== 'literal')
		.map(p => p.type));
	const part = { year: y, month: m, day: d };
	await page.click(`label[for="${id}"]`);
	await page.keyboard.type(order.map(p => part[p]).join(''));
}

async function main() {
	const out = { requests: [] };
	let browser;
	try {
		browser = await puppeteer.launch({
			executablePath: args.chromium, headless: true,
			// root in CI: chromium's sandbox needs an unprivileged user
			args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
				'--no-first-run', '--disable-background-networking'],
			userDataDir: path.join(args.shots, 'profile'),
		});
	} catch (e) {
		process.stderr.write(`link_browser: ${args.chromium} could not be started: ` +
			`${e.message}\n`);
		process.exit(2);
	}
	try {
		out.browser = await browser.version();
		const page = await browser.newPage();
		await page.setViewport({ width: 800, height: 900 });
		page.on('request', r => out.requests.push(r.url()));
		const res = await page.goto(args.url, { waitUntil: 'load' });
		out.get = await describe(page, res);
		out.get.axe = await axe(page);
		await page.screenshot({ path: path.join(args.shots, '1-link-page.png'), fullPage: true });

		// the form as a person fills it in: a date, a reason chosen by its words, a note
		const range = await page.$eval('#until', e => [e.min, e.max]);
		const day = new Date(range[0] + 'T12:00:00Z');
		day.setUTCDate(day.getUTCDate() + (args.days_ahead || 0));
		out.until = day.toISOString().slice(0, 10);
		await typeDate(page, 'until', out.until);
		const value = await page.$$eval('#reason option', (os, label) => {
			const o = os.find(x => x.textContent.trim() === label);
			return o ? o.value : null;
		}, args.reason_label);
		if (value !== null)
			await page.select('#reason', value);
		await page.type('#snooze-note', args.note);
		out.filled = await page.evaluate(() => ({
			until: document.querySelector('#until').value,
			reason: document.querySelector('#reason').value,
			note: document.querySelector('#snooze-note').value,
			valid: document.querySelector('#until').form.checkValidity(),
		}));
		await page.screenshot({ path: path.join(args.shots, '2-form-filled.png'),
			fullPage: true });
		const [done] = await Promise.all([
			page.waitForNavigation({ waitUntil: 'load' }),
			page.click('#until ~ button[type=submit]'),
		]);
		out.result = await describe(page, done);
		out.result.axe = await axe(page);
		await page.screenshot({ path: path.join(args.shots, '3-result.png'), fullPage: true });
	} catch (e) {
		out.error = String(e && e.stack || e);
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

main();
