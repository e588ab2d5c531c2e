/* A timer event must say when it fires: a time point, a duration or a cycle expression. */
'use strict';

const { is, exprText } = require('../lib/model');

module.exports = function() {
  function check(node, reporter) {
    if (!is(node, 'bpmn:Event')) return;
    const timers = (node.eventDefinitions || []).filter(function(def) {
      return is(def, 'bpmn:TimerEventDefinition');
    });
    timers.forEach(function(def) {
      if (exprText(def.timeDate) || exprText(def.timeDuration) || exprText(def.timeCycle)) return;
      reporter.report(node.id, '定时事件没有时间表达式：请填写时间点、时长或循环');
    });
  }
  return { check: check };
};
