/* GovFlow's bpmnlint plugin: `plugin:govflow/recommended` is what the modeler lints with as the
   designer edits (the server's checks before deploy stay the authority). */
'use strict';

module.exports = {
  configs: {
    recommended: {
      rules: {
        'user-task-group': 'error',
        'user-task-form': 'warn',
        'timer-expression': 'error',
        'unreachable': 'warn'
      }
    }
  }
};
