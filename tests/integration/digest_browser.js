// digest_browser: the HTML part of one received digest opened in a real browser (Debian's
// chromium driven by npm's puppeteer-core) as a mail reader would show it, screenshots saved
// (wide, a phone, a dark phone) and axe-core run on it; prints what it saw as one JSON object.
//
//   node digest_browser.js '{"file": "/abs/digest.html", "chromium": "/usr/bin/chromium",
//                            "shots": DIR, "name": "sup1"}'
//
// Or many digests in one browser, each seen as above (axe only where "axe" is not false),
// printing {"pages": [what it saw of each, in the order given]}:
//
//   node digest_browser.js '{"pages": [{"file": ..., "name": ..., "axe": false}, ...],
//                            "chromium": ..., "shots": DIR}'
//
// Exits 2 with a message on standard error when the browser cannot be started.
'use strict';

const path = require('path');
const zlib = require('zlib');
const { pathToFileURL } = require('url');

const { launch, axe } = require(path.join(__dirname, 'browser_common.js'));

const args = JSON.parse(process.argv[2] || '{}');

// The colour chromium painted at (x, y): one pixel's screenshot, an 8-bit RGB(A) PNG decoded
// here (one row: a filter byte, then the pixel).
async function pixel(page, x, y) {
	const png = await page.screenshot({ clip: { x, y, width: 1, height: 1 } });
	const chunks = [];
	let colourType = 6;
	for (let at = 8; at < png.length;) {
		const len = png.readUInt32BE(at), type = png.toString('ascii', at + 4, at + 8);
		if (type === 'IHDR')
			colourType = png[at + 8 + 9];
		if (type === 'IDAT')
			chunks.push(png.subarray(at + 8, at + 8 + len));
		at += 12 + len;
	}
	const raw = zlib.inflateSync(Buffer.concat(chunks));
	if (colourType !== 2 && colourType !== 6)
		return null;
	return `rgb(${raw[1]}, ${raw[2]}, ${raw[3]})`;
}

// axe's colour-contrast findings with the colours it judged: axe takes a page with no
// background of its own to be white, which the dark canvas of color-scheme is not.
async function contrastData(page) {
	return page.evaluate(async () => {
		const r = await window.axe.run(document, { runOnly: ['color-contrast'] });
		return r.violations.flatMap(v => v.nodes.map(n => ({ html: n.html,
			data: (n.any[0] || {}).data || {} })));
	});
}

// What a reader sees, in page order: the first paragraph, each section heading with the
// child identifiers of its table's rows, and each "What" cell (an entry) with its rowspan.
function readPage() {
	const text = e => (e ? e.innerText.replace(/\s+/g, ' ').trim() : '');
	const sections = [];
	for (const h of document.querySelectorAll('h2')) {
		let t = h.nextElementSibling;
		while (t && t.tagName !== 'TABLE' && t.tagName !== 'H2')
			t = t.nextElementSibling;
		const rows = t && t.tagName === 'TABLE' ? [...t.querySelectorAll('tbody tr')] : [];
		sections.push({
			title: text(h),
			children: rows.map(r => text(r.cells[0])),
			entries: rows.flatMap(r => [...r.cells].filter(c => c.rowSpan > 1 ||
				c.cellIndex === 1 && r.cells.length >= 4).map(c => ({
				rowspan: c.rowSpan, text: text(c) }))),
		});
	}
	const first = document.querySelector('p');
	// a child's identifier broken over two lines ("C-" / "1042") reads as two things
	const wrapped = [...document.querySelectorAll('tbody tr')]
		.map(r => r.cells[0] && r.cells[0].querySelector('a'))
		.filter(a => a && a.getClientRects().length > 1).map(a => a.textContent);
	return {
		title: document.title,
		summary: text(first),
		sections,
		images: document.images.length,
		scrollWidth: document.documentElement.scrollWidth,
		wrapped,
	};
}

// One digest (file, name, axe) in a new tab of browser: what it saw, screenshots saved.
async function see(browser, one) {
	const out = { name: one.name, requests: [], console: [] };
	const url = pathToFileURL(one.file).href;
	const page = await browser.newPage();

	try {
		page.on('request', r => out.requests.push(r.url()));
		page.on('console', m => out.console.push(m.text()));
		await page.setViewport({ width: 1100, height: 900 });
		await page.goto(url, { waitUntil: 'load' });
		out.page = await page.evaluate(readPage);
		await page.screenshot({ path: path.join(args.shots, one.name + '-wide.png'),
			fullPage: true });
		// what a reader sees first, readable at full size
		await page.screenshot({ path: path.join(args.shots, one.name + '-wide-top.png') });
		if (one.axe !== false)
			out.axe = await axe(page);
		// a phone, light then dark: nothing wider than the screen to scroll sideways for
		await page.setViewport({ width: 390, height: 844, isMobile: true });
		await page.reload({ waitUntil: 'load' });
		out.phone = await page.evaluate(readPage);
		out.phoneScrollWidth = out.phone.scrollWidth;
		await page.screenshot({ path: path.join(args.shots, one.name + '-phone.png'),
			fullPage: true });
		await page.screenshot({ path: path.join(args.shots, one.name + '-phone-top.png') });
		// dark before the page loads: chromium keeps the link colours it resolved at load
		await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
		await page.reload({ waitUntil: 'load' });
		out.dark = await page.evaluate(() => ({
			link: getComputedStyle(document.querySelector('a') || document.body).color,
			text: getComputedStyle(document.body).color,
		}));
		await page.screenshot({ path: path.join(args.shots, one.name + '-phone-dark.png'),
			fullPage: true });
		await page.screenshot({ path: path.join(args.shots, one.name + '-phone-dark-top.png') });
		if (one.axe !== false)
			out.axeDark = await axe(page);
		out.dark.canvas = await pixel(page, 2, 2);
		if (one.axe !== false)
			out.darkContrast = await contrastData(page);
	} finally {
		await page.close();
	}
	return out;
}

async function main() {
	const many = Array.isArray(args.pages);
	const browser = await launch('digest_browser', args.chromium,
		path.join(args.shots, 'profile-' + (many ? 'pages' : args.name)));
	let out;

	try {
		if (many) {
			out = { pages: [] };
			for (const one of args.pages)
				out.pages.push(await see(browser, one));
		} else {
			out = await see(browser, { file: args.file, name: args.name });
		}
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(e => {
	process.stderr.write(`digest_browser: ${e.stack || e}\n`);
	process.exit(1);
});
