/* A user task must reach someone: a candidate group, an assignee, or a lane (GovFlow takes the
   lane's group when the task names none). */
'use strict';

const { is } = require('../lib/model');

function inLane(node) {
  let container = node.$parent;
  while (container) {
    const laneSets = container.laneSets || (container.childLaneSet ? [container.childLaneSet] : []);
    if (laneSets.some(hasNode)) return true;
    container = container.$parent;
  }
  return false;

  function hasNode(laneSet) {
    return (laneSet.lanes || []).some(function(lane) {
      return (lane.flowNodeRef || []).indexOf(node) !== -1 || (lane.childLaneSet && hasNode(lane.childLaneSet));
    });
  }
}

module.exports = function() {
  function check(node, reporter) {
    if (!is(node, 'bpmn:UserTask')) return;
    const groups = String(node.get('camunda:candidateGroups') || '').trim();
    const assignee = String(node.get('camunda:assignee') || '').trim();
    if (groups || assignee || inLane(node)) return;
    reporter.report(node.id, '用户任务没有办理组或办理人，也不在泳道中：任务将无人办理');
  }
  return { check: check };
};
