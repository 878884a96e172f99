// Reads one SARIF file and the SARIF log the multitool's `validate` wrote about it, and
// prints every problem found. Exits 1 if any is an error.
//
// Two checks, because the multitool alone misses a whole class of mistakes: a value
// its object model cannot deserialise (an unknown `level`, say) makes it skip the file
// and report nothing at all. So the file is first checked against the JSON schema that
// ships with the multitool, with ajv.
//
// Usage: node check.cjs INPUT.sarif VALIDATOR-OUTPUT.sarif
'use strict';

const fs = require('fs');
const path = require('path');

const [input, validatorOutput] = process.argv.slice(2);
if (!input || !validatorOutput) {
  console.error('usage: node check.cjs INPUT.sarif VALIDATOR-OUTPUT.sarif');
  process.exit(2);
}

let errors = 0;
let warnings = 0;

function report(level, where, text) {
  if (level === 'error') errors += 1;
  else if (level === 'warning') warnings += 1;
  else return; // notes and "none" are advice, not problems
  console.log(`${input}${where}: ${level}: ${text}`);
}

// 1. JSON schema.
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const schemaPath = require.resolve(
  `@microsoft/sarif-multitool-${process.platform}/sarif-2.1.0.json`,
);
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
let log;
try {
  log = JSON.parse(fs.readFileSync(input, 'utf8'));
} catch (error) {
  report('error', '', `not JSON: ${error.message}`);
}
if (log !== undefined) {
  const validate = ajv.compile(schema);
  if (!validate(log)) {
    for (const problem of validate.errors) {
      report('error', '', `schema: ${problem.instancePath || '/'} ${problem.message} ` +
        `${JSON.stringify(problem.params)}`);
    }
  }
}

// 2. The multitool's findings: each result's level is its own, else its rule's
// default, else SARIF's default of "warning".
const output = JSON.parse(fs.readFileSync(validatorOutput, 'utf8'));
for (const run of output.runs || []) {
  const rules = (run.tool && run.tool.driver && run.tool.driver.rules) || [];
  const ruleFor = (result) =>
    (result.ruleIndex !== undefined && rules[result.ruleIndex]) ||
    rules.find((rule) => rule.id === result.ruleId) || {};
  for (const result of run.results || []) {
    const rule = ruleFor(result);
    const level = result.level ||
      (rule.defaultConfiguration && rule.defaultConfiguration.level) || 'warning';
    report(level, where(result.locations), `${result.ruleId} ${rule.name || ''}: ${message(result.message, rule)}`);
  }
  // The validator's own failures (a file it could not read, a crash in a rule).
  for (const invocation of run.invocations || []) {
    const notifications = [
      ...(invocation.toolExecutionNotifications || []),
      ...(invocation.toolConfigurationNotifications || []),
    ];
    for (const notification of notifications) {
      report(notification.level || 'warning', '', `validator: ${message(notification.message, {})}`);
    }
    if (invocation.executionSuccessful === false) {
      report('error', '', 'validator: execution failed');
    }
  }
}

function where(locations) {
  const region = locations && locations[0] && locations[0].physicalLocation &&
    locations[0].physicalLocation.region;
  return region ? `:${region.startLine}:${region.startColumn || 1}` : '';
}

// The multitool writes messages as a template id plus arguments.
function message(msg, rule) {
  if (!msg) return '';
  if (msg.text) return msg.text;
  const template = rule.messageStrings && rule.messageStrings[msg.id] &&
    rule.messageStrings[msg.id].text;
  const args = msg.arguments || [];
  if (!template) return `${msg.id} ${JSON.stringify(args)}`;
  return template.replace(/\{(\d+)\}/g, (_, index) => args[Number(index)]);
}

console.log(`${input}: ${errors} error(s), ${warnings} warning(s)`);
process.exit(errors > 0 ? 1 : 0);
