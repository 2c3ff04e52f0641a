// check_adaptive_card: each Teams message a receiver logged (one JSON request body a line on
// standard input) parsed and validated by Microsoft's own Adaptive Cards library (npm
// adaptivecards); prints one JSON object {cards, problems} for test_chat_webhooks.py.
'use strict';

const path = require('path');

let AC;
try {
	AC = require(path.join(__dirname, 'node_modules', 'adaptivecards', 'dist', 'adaptivecards.js'));
} catch (e) {
	process.stderr.write(`check_adaptive_card: npm package adaptivecards is not installed (run ` +
		`npm ci in tests/integration): ${e.message}\n`);
	process.exit(2);
}

const problems = [];
let cards = 0;
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(l => l.trim());
for (const [i, line] of lines.entries()) {
	const msg = JSON.parse(line);
	const att = (msg.attachments || [])[0] || {};
	if (msg.type !== 'message' || att.contentType !== 'application/vnd.microsoft.card.adaptive') {
		problems.push(`message ${i}: not a Workflows message with an Adaptive Card`);
		continue;
	}
	const card = new AC.AdaptiveCard();
	const ctx = new AC.SerializationContext();
	card.parse(att.content, ctx);
	for (let k = 0; k < ctx.eventCount; k++)
		problems.push(`message ${i}: parse: ${ctx.getEventAt(k).message}`);
	for (const e of card.validateProperties().validationEvents)
		problems.push(`message ${i}: validate: ${e.message}`);
	cards++;
}
process.stdout.write(JSON.stringify({ cards, problems }) + '\n');
