/* A user task without a form shows the handler nothing to fill in (the server refuses it as
   「缺少表单」); the lint says so while the designer edits. */
'use strict';

const { is } = require('../lib/model');

module.exports = function() {
  function check(node, reporter) {
    if (!is(node, 'bpmn:UserTask')) return;
    if (String(node.get('camunda:formKey') || '').trim()) return;
    reporter.report(node.id, '用户任务没有表单：请在「表单」中选择一个表单');
  }
  return { check: check };
};
