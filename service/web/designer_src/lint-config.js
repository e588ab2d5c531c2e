/* The linter bundle bpmn-js-bpmnlint expects ({config, resolver}), built by hand instead of by
   bpmnlint-loader: the rules of plugin:govflow/recommended, resolved from the local plugin. */
import plugin from 'bpmnlint-plugin-govflow';
import userTaskGroup from 'bpmnlint-plugin-govflow/rules/user-task-group';
import userTaskForm from 'bpmnlint-plugin-govflow/rules/user-task-form';
import timerExpression from 'bpmnlint-plugin-govflow/rules/timer-expression';
import unreachable from 'bpmnlint-plugin-govflow/rules/unreachable';

const PACKAGE = 'bpmnlint-plugin-govflow';

const rules = {
  'user-task-group': userTaskGroup,
  'user-task-form': userTaskForm,
  'timer-expression': timerExpression,
  'unreachable': unreachable
};

const resolver = {
  resolveRule(pkg, ruleName) {
    const rule = pkg === PACKAGE && rules[ruleName];
    if (!rule) throw new Error('无法解析检查规则 <' + pkg + '/' + ruleName + '>');
    return rule;
  },
  resolveConfig(pkg, configName) {
    const config = pkg === PACKAGE && plugin.configs[configName];
    if (!config) throw new Error('无法解析检查配置 <' + pkg + '/' + configName + '>');
    return config;
  }
};

export default {
  config: { extends: 'plugin:govflow/recommended' },
  resolver
};
