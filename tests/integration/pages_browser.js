// pages_browser: the pages for people in a real browser (Debian's chromium driven by npm's
// puppeteer-core), signed in as the sign-on proxy would sign people in (the user header on every
// request from 127.0.0.1); each page checked with axe-core and photographed; one alert answered
// through its form; prints what it saw as one JSON object for test_pages_browser.py.
//
//   node pages_browser.js '{"base": "http://127.0.0.1:PORT", "chromium": "/usr/bin/chromium",
//                           "shots": DIR, "header": "X-Forwarded-Email",
//                           "supervisor": "supa@...", "head": "hos@...", "team": "T-A",
//                           "other_team": "T%20B%2F2", "answer_child": "C-A1", "note": "..."}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const path = require('path');

const { launch, axe } = require(path.join(__dirname, 'browser_common.js'));

const args = JSON.parse(process.argv[2] || '{}');




// What a reader sees: the title, the sections, the cards' children in order.
async function describe(page, response) {
	return page.evaluate((status) => {
		const cards = [...document.querySelectorAll('article.alert')].map(a => {
			const h = a.querySelector('h3, h4');
			const sec = a.closest('section[aria-labelledby], section.worker');
			const secH = sec ? sec.querySelector('h2') : null;
			return {
				child: h ? h.querySelector('a').textContent : null,
				heading: h ? h.textContent.replace(/\s+/g, ' ').trim() : null,
				section: secH ? secH.textContent.replace(/\s+/g, ' ').trim() : null,
			};
		});
		return {
			status, url: location.href, title: document.title,
			h1: (document.querySelector('h1') || {}).textContent || '',
			who: ((document.querySelector('.who') || {}).textContent || '').trim(),
			h2: [...document.querySelectorAll('h2')].map(h => h.textContent.trim()),
			cards, text: document.body.innerText,
			scripts: document.scripts.length,
			// wider than the window: a person must scroll sideways (WCAG 1.4.10, reflow)
			scroll_width: document.documentElement.scrollWidth,
			client_width: document.documentElement.clientWidth,
		};
	}, response ? response.status() : null);
}

async function visit(page, url, shot) {
	const res = await page.goto(url, { waitUntil: 'load' });
	const d = await describe(page, res);
	d.axe = await axe(page);
	await page.screenshot({ path: path.join(args.shots, shot), fullPage: true });
	return d;
}

// The card of child: its "Answer" disclosure opened by a click (no script: <details>), the
// note typed, the Acknowledge button pressed as a person would.
async function acknowledge(page, child, note, out) {
	const cards = await page.$$('article.alert');
	let card = null;
	for (const c of cards) {
		const name = await c.$eval('h3 a, h4 a', a => a.textContent);
		if (name === child)
			card = c;
	}
	if (!card)
		throw new Error(`no card for ${child}`);
	await (await card.$('summary')).click();
	const note_id = await card.$eval('textarea[id^="ack-note-"]', t => t.id);
	await page.click(`label[for="${note_id}"]`);
	await page.keyboard.type(note);
	out.opened = await card.$eval('details', d => d.open);
	await page.screenshot({ path: path.join(args.shots, '2-supervisor-answering.png'),
		fullPage: true });
	const button = await card.$('button[aria-label^="Acknowledge"]');
	const [done] = await Promise.all([
		page.waitForNavigation({ waitUntil: 'load' }),
		button.click(),
	]);
	return done;
}

async function as(browser, who) {
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	await page.setViewport({ width: 1000, height: 900 });
	await page.setExtraHTTPHeaders({ [args.header]: who });
	page.on('request', r => out.requests.push(r.url()));
	return page;
}

const out = { requests: [] };

async function main() {
	const browser = await launch('pages_browser', args.chromium,
		path.join(args.shots, 'profile'));

	try {
		out.browser = await browser.version();
		const sup = await as(browser, args.supervisor);
		out.sup_mine = await visit(sup, args.base + '/', '1-supervisor-my-alerts.png');
		const res = await acknowledge(sup, args.answer_child, args.note, out);
		out.sup_result = await describe(sup, res);
		out.sup_result.axe = await axe(sup);
		await sup.screenshot({ path: path.join(args.shots, '3-supervisor-answered.png'),
			fullPage: true });
		// the answer came back as a redirect to the list: a reload asks for the list again
		// (a GET), never the form; Back goes to the list from before the answer
		const seen = [];
		const note = r => seen.push(r.method() + ' ' + r.url());
		sup.on('request', note);
		out.sup_after = await describe(sup, await sup.reload({ waitUntil: 'load' }));
		out.reload_requests = seen.splice(0);
		const back = await sup.goBack({ waitUntil: 'load' });
		out.sup_back = await describe(sup, back);
		out.back_requests = seen.splice(0);
		sup.off('request', note);
		await sup.screenshot({ path: path.join(args.shots, '3b-supervisor-back.png'),
			fullPage: true });
		// a phone's width: the note's unbroken address wraps instead of widening the page
		await sup.setViewport({ width: 320, height: 800 });
		out.sup_narrow = await describe(sup, await sup.reload({ waitUntil: 'load' }));
		await sup.screenshot({ path: path.join(args.shots, '3c-supervisor-320px.png'),
			fullPage: true });
		await sup.setViewport({ width: 1000, height: 900 });
		out.sup_team = await visit(sup, args.base + '/team/' + args.team,
			'4-supervisor-team.png');
		// the filter: a response chosen by its words, then the Show button
		await sup.select('#response', 'acknowledged');
		const [filtered] = await Promise.all([
			sup.waitForNavigation({ waitUntil: 'load' }),
			sup.click('form.filter button[type=submit]'),
		]);
		out.sup_filtered = await describe(sup, filtered);
		out.sup_filtered.axe = await axe(sup);
		await sup.screenshot({ path: path.join(args.shots, '5-supervisor-team-filtered.png'),
			fullPage: true });
		out.sup_other = await describe(sup, await sup.goto(args.base + '/team/' +
			args.other_team, { waitUntil: 'load' }));

		const hos = await as(browser, args.head);
		out.hos_mine = await visit(hos, args.base + '/', '6-head-my-alerts.png');
		out.hos_team = await visit(hos, args.base + '/team/' + args.other_team,
			'7-head-other-team.png');
		await hos.emulateMediaType('print');
		await hos.screenshot({ path: path.join(args.shots, '8-head-other-team-print.png'),
			fullPage: true });
		out.print_forms_hidden = await hos.evaluate(() => [...document.forms].every(f =>
			getComputedStyle(f).display === 'none'));

		// a CP chair: their plans' alerts, and a child's chronology from their list
		const ch = await as(browser, args.chair);
		out.chair_mine = await visit(ch, args.base + '/', '9-chair-my-alerts.png');
		const link = await ch.$('a[href$="child/' + args.chair_child + '"]');
		out.chair_child_link = !!link;
		if (link)
			await Promise.all([ch.waitForNavigation({ waitUntil: 'load' }), link.click()]);
		out.chair_child = await describe(ch, null);
		out.chair_child.axe = await axe(ch);
		out.chair_child.svg = await ch.evaluate(() => !!document.querySelector('svg[role="img"]'));
		await ch.screenshot({ path: path.join(args.shots, '10-chair-child.png'), fullPage: true });
		out.chair_other_child = await describe(ch, await ch.goto(args.base + '/child/' +
			args.supervisor_child, { waitUntil: 'load' }));
	} catch (e) {
		out.error = String(e && e.stack || e);
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

main();
