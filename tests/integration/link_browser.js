// link_browser: a link from a received mail opened in a real browser (Debian's chromium driven by
// npm's puppeteer-core), its snooze form filled in and submitted as a person would, both pages
// checked with axe-core; prints what it saw as one JSON object for test_link_browser.py.
//
//   node link_browser.js '{"url": "...", "chromium": "/usr/bin/chromium", "shots": DIR,
//                          "reason_label": "...", "days_ahead": 6, "note": "..."}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const path = require('path');

const { launch, axe } = require(path.join(__dirname, 'browser_common.js'));

const args = JSON.parse(process.argv[2] || '{}');




async function describe(page, response) {
	return page.evaluate((status) => {
		const facts = {};
		const dts = document.querySelectorAll('dl dt');
		for (const dt of dts)
			facts[dt.textContent.trim()] = dt.nextElementSibling ?
				(dt.nextElementSibling.dataset.key ||
				 dt.nextElementSibling.textContent.trim()) : null;
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
	const browser = await launch('link_browser', args.chromium, path.join(args.shots, 'profile'));

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
