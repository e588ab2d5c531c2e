/* Every step must be reachable from a start event: a flow node no path reaches never runs.
   Boundary events count as reached when their host is; a sub-process's start events when the
   sub-process is; event sub-processes and their start events are triggered by events. */
'use strict';

const { is } = require('../lib/model');

function flowNodes(container, out) {
  (container.flowElements || []).forEach(function(el) {
    if (is(el, 'bpmn:FlowNode')) {
      out.push(el);
      if (is(el, 'bpmn:SubProcess')) flowNodes(el, out);
    }
  });
  return out;
}

function linkName(node) {
  const def = (node.eventDefinitions || []).find(function(d) { return is(d, 'bpmn:LinkEventDefinition'); });
  return def ? (def.name || def.id || '') : null;
}

function isEventSubProcess(node) {
  return is(node, 'bpmn:SubProcess') && node.triggeredByEvent;
}

function reached(process) {
  const nodes = flowNodes(process, []);
  const seen = new Set();
  const queue = [];
  function visit(node) {
    if (!node || seen.has(node)) return;
    seen.add(node);
    queue.push(node);
  }
  nodes.forEach(function(node) {
    const parent = node.$parent;
    if (is(node, 'bpmn:StartEvent') && (parent === process || isEventSubProcess(parent))) visit(node);
    if (isEventSubProcess(node) && node.$parent === process) visit(node);
  });
  while (queue.length) {
    const node = queue.shift();
    (node.outgoing || []).forEach(function(flow) { visit(flow.targetRef); });
    nodes.forEach(function(other) {
      if (is(other, 'bpmn:BoundaryEvent') && other.attachedToRef === node) visit(other);
      if (is(node, 'bpmn:SubProcess') && other.$parent === node &&
          (is(other, 'bpmn:StartEvent') || isEventSubProcess(other))) visit(other);
      if (isEventSubProcess(other) && other.$parent === node) visit(other);
    });
    const link = is(node, 'bpmn:IntermediateThrowEvent') ? linkName(node) : null;
    if (link !== null) {
      nodes.forEach(function(other) {
        if (is(other, 'bpmn:IntermediateCatchEvent') && linkName(other) === link) visit(other);
      });
    }
  }
  return { nodes: nodes, seen: seen };
}

module.exports = function() {
  function check(node, reporter) {
    if (!is(node, 'bpmn:Process')) return;
    const { nodes, seen } = reached(node);
    nodes.forEach(function(el) {
      if (seen.has(el)) return;
      reporter.report(el.id, '没有从开始事件到达此处的路径：此步骤永远不会执行');
    });
  }
  return { check: check };
};
