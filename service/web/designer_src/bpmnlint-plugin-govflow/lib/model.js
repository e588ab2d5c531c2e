/* Small moddle helpers shared by the rules (no dependency on bpmnlint-utils, so the plugin
   resolves from the repository's own folder for both the CLI and the browser bundle). */
'use strict';

function is(node, type) {
  return !!node && typeof node.$instanceOf === 'function' && node.$instanceOf(type);
}

function isAny(node, types) {
  return types.some(function(type) { return is(node, type); });
}

/* The text of a formal expression (or '' when there is none). */
function exprText(expr) {
  return expr && typeof expr.body === 'string' ? expr.body.trim() : '';
}

module.exports = { is: is, isAny: isAny, exprText: exprText };
